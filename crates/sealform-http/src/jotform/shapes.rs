//! Sealform's forms, questions and submissions in Jotform's documented shapes. Jotform spells every scalar as a
//! string (`"count": "3"`, `"required": "Yes"`), and so do these.

use std::collections::BTreeMap;

use sealform_core::form_model::{Definition, Question, QuestionType};
use sealform_core::ids::FileId;
use sealform_core::policy::MASK;
use sealform_core::sealing::Answers;
use sealform_core::submission::{FormRecord, FormStatus, SubmissionStatus, SubmissionSummary};
use serde_json::{Map, Value, json};

use super::envelope::date;

/// Jotform's form status: `ENABLED` (published), `DISABLED` (draft or closed) or `DELETED` (archived, which is
/// what deleting a form does here: submissions are never dropped with their form).
pub(crate) fn form_status(status: FormStatus) -> &'static str {
    match status {
        FormStatus::Published => "ENABLED",
        FormStatus::Draft | FormStatus::Unpublished => "DISABLED",
        FormStatus::Archived => "DELETED",
    }
}

/// What the list of forms shows about each form's submissions.
#[derive(Clone, Debug, Default)]
pub(crate) struct FormCounts {
    pub(crate) count: u64,
    pub(crate) new: u64,
    pub(crate) last_submission: Option<String>,
}

/// A form object.
pub(crate) fn form(public_url: &str, username: &str, record: &FormRecord, counts: &FormCounts) -> Value {
    json!({
        "id": record.id.to_string(),
        "username": username,
        "title": record.title,
        "height": "539",
        "status": form_status(record.status),
        "created_at": date(record.created_at),
        "updated_at": date(record.updated_at),
        "last_submission": counts.last_submission,
        "new": counts.new.to_string(),
        "count": counts.count.to_string(),
        "type": "LEGACY",
        "favorite": "0",
        "archived": if record.status == FormStatus::Archived { "1" } else { "0" },
        "url": format!("{public_url}/f/{}", record.id),
    })
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "Yes" } else { "No" }
}

/// A question's `name`: derived from its text as Jotform does (lower camel case of its words), with the qid
/// appended so it is unique within the form.
pub(crate) fn question_name(q: &Question) -> String {
    let mut name = String::new();
    for (i, word) in q.text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).take(4).enumerate() {
        let lower = word.to_ascii_lowercase();
        if i == 0 {
            name.push_str(&lower);
        } else {
            let mut chars = lower.chars();
            name.extend(chars.next().map(|c| c.to_ascii_uppercase()));
            name.extend(chars);
        }
    }
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'q');
    }
    format!("{name}{}", q.qid)
}

/// A question object: its properties as Jotform names them, plus Sealform's `phi` and `indexed`.
pub(crate) fn question(q: &Question, order: usize) -> Value {
    let mut object = json!({
        "qid": q.qid,
        "type": q.kind.as_str(),
        "text": q.text,
        "name": question_name(q),
        "order": (order + 1).to_string(),
        "required": yes_no(q.required),
        "phi": yes_no(q.phi),
        "indexed": yes_no(q.indexed),
    });
    if !q.help.is_empty() {
        object["description"] = json!(q.help);
    }
    if !q.options.is_empty() {
        object["options"] = json!(q.options.join("|"));
    }
    let parts = q.kind.parts();
    if !parts.is_empty() {
        let sublabels: Map<String, Value> =
            parts.iter().map(|(part, label)| ((*part).to_owned(), json!(label))).collect();
        object["sublabels"] = Value::Object(sublabels);
    }
    object
}

/// The questions of a form keyed by qid.
pub(crate) fn questions(definition: &Definition) -> Value {
    let map: Map<String, Value> =
        definition.questions.iter().enumerate().map(|(i, q)| (q.qid.clone(), question(q, i))).collect();
    Value::Object(map)
}

/// Jotform's submission status and its `new` and `flag` markers for a Sealform status.
pub(crate) fn submission_status(status: SubmissionStatus) -> (&'static str, &'static str, &'static str) {
    match status {
        SubmissionStatus::New => ("ACTIVE", "1", "0"),
        SubmissionStatus::Read => ("ACTIVE", "0", "0"),
        SubmissionStatus::Flagged => ("ACTIVE", "0", "1"),
        SubmissionStatus::Archived => ("ARCHIVED", "0", "0"),
    }
}

fn text(answers: &Answers, path: &str) -> Option<String> {
    answers.get(path).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// What one submission shows: its metadata, and answers keyed by qid (`answer` and `prettyFormat`). Masked
/// questions show [`MASK`] (they were never opened); file answers are URLs that return the bytes to the same key.
pub(crate) struct SubmissionView<'a> {
    pub(crate) summary: &'a SubmissionSummary,
    pub(crate) definition: &'a Definition,
    pub(crate) answers: &'a Answers,
    pub(crate) masked: &'a [String],
    pub(crate) files: &'a BTreeMap<String, FileId>,
    pub(crate) notes: String,
    pub(crate) base_url: &'a str,
}

impl SubmissionView<'_> {
    pub(crate) fn to_json(&self) -> Value {
        let (status, new, flag) = submission_status(self.summary.status);
        let mut answers = Map::new();
        for (i, q) in self.definition.questions.iter().enumerate() {
            let mut object = json!({
                "name": question_name(q),
                "order": (i + 1).to_string(),
                "text": q.text,
                "type": q.kind.as_str(),
            });
            if let Some((answer, pretty)) = self.answer(q) {
                object["answer"] = answer;
                object["prettyFormat"] = json!(pretty);
            }
            answers.insert(q.qid.clone(), object);
        }
        json!({
            "id": self.summary.id.to_string(),
            "form_id": self.summary.form_id.to_string(),
            "ip": "",
            "created_at": date(self.summary.created_at),
            "updated_at": date(self.summary.updated_at),
            "status": status,
            "new": new,
            "flag": flag,
            "notes": self.notes,
            "answers": answers,
        })
    }

    /// The question's `answer` and `prettyFormat`, or `None` when it has none.
    fn answer(&self, q: &Question) -> Option<(Value, String)> {
        if !q.kind.takes_answer() || q.kind == QuestionType::Button {
            return None;
        }
        let masked = q.paths().iter().any(|p| self.masked.contains(p));
        if masked {
            return Some((json!(MASK), MASK.to_owned()));
        }
        let parts = q.kind.parts();
        if !parts.is_empty() {
            let mut object = Map::new();
            let mut pretty = Vec::new();
            for (part, _) in parts {
                if let Some(value) = text(self.answers, &format!("{}_{part}", q.qid)) {
                    pretty.push(value.clone());
                    object.insert((*part).to_owned(), json!(value));
                }
            }
            return (!object.is_empty()).then(|| (Value::Object(object), pretty.join(" ")));
        }
        let value = text(self.answers, &q.qid)?;
        if q.kind.is_file() {
            let url = self.files.get(&q.qid).map(|id| format!("{}/files/{id}", self.base_url)).unwrap_or_default();
            return Some((if q.kind == QuestionType::Signature { json!(url) } else { json!([url]) }, value));
        }
        if q.kind == QuestionType::Checkbox {
            let chosen: Vec<&str> = value.split('\n').collect();
            return Some((json!(chosen), chosen.join("; ")));
        }
        Some((json!(value), value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_camel_case_and_unique_by_qid() {
        let q = Question::new("3", QuestionType::Fullname, "Your full name");
        assert_eq!(question_name(&q), "yourFullName3");
        let q = Question::new("12", QuestionType::Head, "");
        assert_eq!(question_name(&q), "q12");
    }

    #[test]
    fn statuses_map_to_jotform() {
        assert_eq!(form_status(FormStatus::Published), "ENABLED");
        assert_eq!(form_status(FormStatus::Archived), "DELETED");
        assert_eq!(submission_status(SubmissionStatus::Flagged), ("ACTIVE", "0", "1"));
    }
}
