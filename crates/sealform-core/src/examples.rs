//! Example forms: a patient intake with conditional questions and pages, and a consent form with a signature. Used
//! by `sealform demo`, the browser tests and the benchmarks, so all three exercise the same realistic shapes.

use crate::form_model::{Condition, ConditionAction, Definition, Question, QuestionType};

fn question(qid: &str, kind: QuestionType, text: &str) -> Question {
    Question::new(qid, kind, text)
}

fn required_phi(mut q: Question) -> Question {
    q.required = true;
    q.phi = true;
    q
}

/// A patient intake: name, date of birth, contact, reason, allergies (asked only when there are some), a page break,
/// insurance card upload and a pain scale.
#[must_use]
pub fn patient_intake() -> Definition {
    let mut email = required_phi(question("4", QuestionType::Email, "E-mail"));
    email.indexed = true;
    let mut phone = question("5", QuestionType::Phone, "Phone");
    phone.phi = true;
    let mut reason = required_phi(question("6", QuestionType::Textarea, "Reason for your visit"));
    reason.validation.max_length = Some(2000);
    let mut has_allergies = question("7", QuestionType::Radio, "Do you have any allergies?");
    has_allergies.required = true;
    has_allergies.options = vec!["Yes".into(), "No".into()];
    let when_allergic = Some(Condition { qid: "7".into(), equals: "Yes".into(), action: ConditionAction::Show });
    let mut allergies = question("8", QuestionType::Checkbox, "Which allergies?");
    allergies.phi = true;
    allergies.options = vec!["Penicillin".into(), "Latex".into(), "Nuts".into(), "Pollen".into()];
    allergies.visible_when.clone_from(&when_allergic);
    let mut other = question("9", QuestionType::Textbox, "Other allergies");
    other.phi = true;
    other.visible_when = when_allergic;
    let mut card = question("12", QuestionType::Fileupload, "Photo of your insurance card");
    card.phi = true;
    card.accept = vec!["jpg".into(), "jpeg".into(), "png".into(), "pdf".into()];
    card.max_file_bytes = Some(5 * 1024 * 1024);
    card.help = "JPG, PNG or PDF, up to 5 MiB.".into();
    let mut pain = question("13", QuestionType::Scale, "Pain today (0 none, 10 worst)");
    pain.validation.min = Some(0.0);
    pain.validation.max = Some(10.0);
    let mut dob = required_phi(question("3", QuestionType::Datetime, "Date of birth"));
    dob.help = "As YYYY-MM-DD.".into();
    Definition {
        questions: vec![
            question("1", QuestionType::Head, "Patient intake"),
            required_phi(question("2", QuestionType::Fullname, "Your name")),
            dob,
            email,
            phone,
            reason,
            has_allergies,
            allergies,
            other,
            question("10", QuestionType::Pagebreak, ""),
            question("11", QuestionType::Head, "Insurance"),
            card,
            pain,
            question("14", QuestionType::Button, "Send"),
        ],
    }
}

/// A consent form: the text, the patient's name and the date, a drawn signature and an explicit agreement.
#[must_use]
pub fn consent() -> Definition {
    let mut agree = question("6", QuestionType::Checkbox, "Agreement");
    agree.required = true;
    agree.options = vec!["I have read and agree to the above".into()];
    Definition {
        questions: vec![
            question("1", QuestionType::Head, "Consent to treatment"),
            question(
                "2",
                QuestionType::Text,
                "I consent to examination and treatment by the clinic's staff. I understand I may withdraw this \
                 consent at any time.",
            ),
            required_phi(question("3", QuestionType::Fullname, "Patient name")),
            required_phi(question("4", QuestionType::Datetime, "Date")),
            required_phi(question("5", QuestionType::Signature, "Signature")),
            agree,
            question("7", QuestionType::Button, "Sign"),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_are_valid_forms() {
        patient_intake().check().unwrap();
        consent().check().unwrap();
        assert_eq!(patient_intake().pages().len(), 2);
    }
}
