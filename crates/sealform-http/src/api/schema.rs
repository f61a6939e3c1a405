//! Schemas the document describes but the handlers do not parse through a type of their own: the question, whose
//! one parser is the form model ([`sealform_core::form_model::Question`], with its own checks). A unit test keeps
//! this description and the model's fields the same.

use serde::Serialize;
use utoipa::ToSchema;

/// One question of a form (Jotform's `control_*` types). The form model checks it when a form is created or its
/// questions replaced: unknown fields, types and broken rules are refused with a message per question.
#[derive(Serialize, ToSchema)]
pub(crate) struct Question {
    /// Unique in the form: letters, digits and `-`, at most 40.
    qid: String,
    /// The question type, e.g. `control_textbox`.
    #[serde(rename = "type")]
    kind: String,
    /// The label.
    text: String,
    /// Help shown under the label.
    help: Option<String>,
    /// Whether an answer is required (when visible).
    required: Option<bool>,
    /// Whether the answer is protected health information (masked for members whose grant hides PHI).
    phi: Option<bool>,
    /// Whether the answer gets a blind index for exact-match search.
    indexed: Option<bool>,
    /// Options of a dropdown, radio or checkbox question.
    options: Option<Vec<String>>,
    /// Rules beyond the type.
    validation: Option<Validation>,
    /// Conditional visibility.
    visible_when: Option<Condition>,
    /// Largest upload in bytes (file questions).
    max_file_bytes: Option<u64>,
    /// Allowed file name extensions, lower case without the dot.
    accept: Option<Vec<String>>,
}

/// Rules an answer must meet.
#[derive(Serialize, ToSchema)]
pub(crate) struct Validation {
    /// A regular expression the whole answer must match (text questions).
    pattern: Option<String>,
    /// Smallest number.
    min: Option<f64>,
    /// Largest number.
    max: Option<f64>,
    /// Fewest characters.
    min_length: Option<u32>,
    /// Most characters.
    max_length: Option<u32>,
}

/// Shows or hides a question depending on an earlier answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct Condition {
    /// The earlier question.
    qid: String,
    /// The answer that triggers the action.
    equals: String,
    /// `show` (default) or `hide`.
    action: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::PartialSchema as _;

    /// Every field the form model writes for a question is one this schema documents.
    #[test]
    fn the_question_schema_covers_the_form_model() {
        let schema = serde_json::to_value(super::Question::schema()).unwrap();
        let documented: BTreeSet<String> = schema["properties"].as_object().unwrap().keys().cloned().collect();
        let mut written = BTreeSet::new();
        for definition in [sealform_core::examples::patient_intake(), sealform_core::examples::consent()] {
            for question in &definition.questions {
                written.extend(serde_json::to_value(question).unwrap().as_object().unwrap().keys().cloned());
            }
        }
        assert!(written.len() > 5, "{written:?}");
        let undocumented: Vec<_> = written.difference(&documented).collect();
        assert!(undocumented.is_empty(), "question fields missing from the schema: {undocumented:?}");
    }
}
