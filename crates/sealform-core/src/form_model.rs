//! The form model (DESIGN.md §4): questions with Jotform's `control_*` types, validation rules, options, conditional
//! visibility and pages; and the one place answers are checked against it, for the fill page and both APIs alike.
//!
//! Answers are keyed by *answer path*: the question id for single-valued questions (`"3"`), the question id and a
//! part for compound ones (`"3_first"`, `"3_city"`), as Jotform names them. A checkbox's choices are one value joined
//! by newlines (options may not contain one). File and signature questions answer with the file's name; the bytes
//! travel separately, sealed (see [`crate::files`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::sealing::Answers;

/// Most questions a form may have.
pub const MAX_QUESTIONS: usize = 300;
/// Most options a choice question may have.
pub const MAX_OPTIONS: usize = 500;
/// Longest question text, help text or option, in characters.
pub const MAX_LABEL_CHARS: usize = 2_000;
/// Longest answer accepted for any single-line field, in characters.
pub const MAX_LINE_CHARS: usize = 1_000;
/// Longest answer accepted for a text area, in characters.
pub const MAX_TEXTAREA_CHARS: usize = 20_000;
/// Largest upload a question may allow.
pub const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// An upload's limit when the question sets none.
pub const DEFAULT_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Longest validation pattern, in characters.
const MAX_PATTERN_CHARS: usize = 200;

/// A question's type, spelled as Jotform spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    /// A heading.
    #[serde(rename = "control_head")]
    Head,
    /// A paragraph of text.
    #[serde(rename = "control_text")]
    Text,
    /// One line of text.
    #[serde(rename = "control_textbox")]
    Textbox,
    /// Several lines of text.
    #[serde(rename = "control_textarea")]
    Textarea,
    /// An e-mail address.
    #[serde(rename = "control_email")]
    Email,
    /// A phone number.
    #[serde(rename = "control_phone")]
    Phone,
    /// A number.
    #[serde(rename = "control_number")]
    Number,
    /// A date, optionally with a time.
    #[serde(rename = "control_datetime")]
    Datetime,
    /// One option from a list.
    #[serde(rename = "control_dropdown")]
    Dropdown,
    /// One option, shown as radio buttons.
    #[serde(rename = "control_radio")]
    Radio,
    /// Any number of options.
    #[serde(rename = "control_checkbox")]
    Checkbox,
    /// First and last name.
    #[serde(rename = "control_fullname")]
    Fullname,
    /// A postal address.
    #[serde(rename = "control_address")]
    Address,
    /// A file.
    #[serde(rename = "control_fileupload")]
    Fileupload,
    /// A drawn signature, stored as PNG.
    #[serde(rename = "control_signature")]
    Signature,
    /// A number on a scale.
    #[serde(rename = "control_scale")]
    Scale,
    /// The start of a new page.
    #[serde(rename = "control_pagebreak")]
    Pagebreak,
    /// The submit button.
    #[serde(rename = "control_button")]
    Button,
}

impl QuestionType {
    /// Every type, in the order the builder offers them.
    pub const ALL: [Self; 18] = [
        Self::Textbox,
        Self::Textarea,
        Self::Email,
        Self::Phone,
        Self::Number,
        Self::Datetime,
        Self::Dropdown,
        Self::Radio,
        Self::Checkbox,
        Self::Fullname,
        Self::Address,
        Self::Fileupload,
        Self::Signature,
        Self::Scale,
        Self::Head,
        Self::Text,
        Self::Pagebreak,
        Self::Button,
    ];

    /// The `control_*` name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Head => "control_head",
            Self::Text => "control_text",
            Self::Textbox => "control_textbox",
            Self::Textarea => "control_textarea",
            Self::Email => "control_email",
            Self::Phone => "control_phone",
            Self::Number => "control_number",
            Self::Datetime => "control_datetime",
            Self::Dropdown => "control_dropdown",
            Self::Radio => "control_radio",
            Self::Checkbox => "control_checkbox",
            Self::Fullname => "control_fullname",
            Self::Address => "control_address",
            Self::Fileupload => "control_fileupload",
            Self::Signature => "control_signature",
            Self::Scale => "control_scale",
            Self::Pagebreak => "control_pagebreak",
            Self::Button => "control_button",
        }
    }

    /// Parses a `control_*` name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether the question collects an answer (headings, text, page breaks and buttons do not).
    #[must_use]
    pub fn takes_answer(self) -> bool {
        !matches!(self, Self::Head | Self::Text | Self::Pagebreak | Self::Button)
    }

    /// Whether the answer is a file.
    #[must_use]
    pub fn is_file(self) -> bool {
        matches!(self, Self::Fileupload | Self::Signature)
    }

    /// Whether the question chooses among options.
    #[must_use]
    pub fn has_options(self) -> bool {
        matches!(self, Self::Dropdown | Self::Radio | Self::Checkbox)
    }

    /// The parts of a compound answer, with their labels; empty for single-valued questions.
    #[must_use]
    pub fn parts(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Fullname => &[("first", "First name"), ("last", "Last name")],
            Self::Address => &[
                ("addr_line1", "Street address"),
                ("addr_line2", "Street address line 2"),
                ("city", "City"),
                ("state", "State / Province"),
                ("postal", "Postal / Zip code"),
                ("country", "Country"),
            ],
            _ => &[],
        }
    }

    /// The parts a required compound answer must fill.
    fn required_parts(self) -> &'static [&'static str] {
        match self {
            Self::Fullname => &["first", "last"],
            Self::Address => &["addr_line1", "city", "postal"],
            _ => &[],
        }
    }
}

/// Rules an answer must meet, beyond its type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validation {
    /// A regular expression the whole answer must match (text questions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Smallest number (number and scale questions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest number (number and scale questions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Fewest characters (text questions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    /// Most characters (text questions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

/// Shows or hides a question depending on an earlier answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The earlier question whose answer decides.
    pub qid: String,
    /// The answer (or, for a checkbox, one of the chosen options) that triggers the action.
    pub equals: String,
    /// Show the question when the answer matches (and hide it otherwise), or the reverse.
    #[serde(default)]
    pub action: ConditionAction,
}

/// What a matching [`Condition`] does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionAction {
    /// Visible only when the answer matches.
    #[default]
    Show,
    /// Hidden when the answer matches.
    Hide,
}

/// One question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The question id, unique in the form: letters, digits and `-`, at most 40.
    pub qid: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: QuestionType,
    /// The label.
    pub text: String,
    /// Help shown under the label.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
    /// Whether an answer is required (when visible).
    #[serde(default)]
    pub required: bool,
    /// Whether the answer is protected health information (masked for users whose grant hides PHI).
    #[serde(default)]
    pub phi: bool,
    /// Whether the answer gets a blind index, for exact-match search in the inbox.
    #[serde(default)]
    pub indexed: bool,
    /// Options of a dropdown, radio or checkbox question.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Rules beyond the type.
    #[serde(default, skip_serializing_if = "is_default")]
    pub validation: Validation,
    /// Conditional visibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_when: Option<Condition>,
    /// Largest upload, in bytes (file questions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_bytes: Option<u64>,
    /// Allowed file name extensions, lower case without the dot (file questions); empty allows any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<String>,
}

fn is_default(v: &Validation) -> bool {
    *v == Validation::default()
}

impl Question {
    /// A new question of `kind` with a label and nothing else set.
    #[must_use]
    pub fn new(qid: impl Into<String>, kind: QuestionType, text: impl Into<String>) -> Self {
        Self {
            qid: qid.into(),
            kind,
            text: text.into(),
            help: String::new(),
            required: false,
            phi: false,
            indexed: false,
            options: Vec::new(),
            validation: Validation::default(),
            visible_when: None,
            max_file_bytes: None,
            accept: Vec::new(),
        }
    }

    /// The answer paths this question fills.
    #[must_use]
    pub fn paths(&self) -> Vec<String> {
        let parts = self.kind.parts();
        if parts.is_empty() {
            vec![self.qid.clone()]
        } else {
            parts.iter().map(|(part, _)| format!("{}_{part}", self.qid)).collect()
        }
    }

    /// The upload limit of a file question.
    #[must_use]
    pub fn file_limit(&self) -> u64 {
        self.max_file_bytes.unwrap_or(DEFAULT_FILE_BYTES)
    }

    /// Whether a file name's extension is allowed.
    #[must_use]
    pub fn accepts_file_name(&self, name: &str) -> bool {
        if self.kind == QuestionType::Signature {
            return true;
        }
        if self.accept.is_empty() {
            return true;
        }
        let extension = name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default();
        self.accept.contains(&extension)
    }

    /// The scale's bounds (default 1 to 5).
    #[must_use]
    pub fn scale_bounds(&self) -> (i64, i64) {
        let low = self.validation.min.map_or(1, |v| v as i64);
        let high = self.validation.max.map_or(5, |v| v as i64);
        (low, high)
    }
}

/// A form's questions, in order. Stored as JSON in each form version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The questions, in display order; page breaks split them into pages.
    #[serde(default)]
    pub questions: Vec<Question>,
}

/// Problems with a definition or with answers, keyed by question id ("" for the form as a whole).
pub type FieldErrors = BTreeMap<String, String>;

impl Definition {
    /// Parses and checks a stored or submitted definition.
    ///
    /// # Errors
    /// The problems found, by question id.
    pub fn from_json(json: &str) -> Result<Self, FieldErrors> {
        let definition: Self = serde_json::from_str(json).map_err(|err| {
            // serde's message names the offending key or type, never a user's answer.
            FieldErrors::from([(String::new(), format!("the form definition is not valid: {err}"))])
        })?;
        definition.check()?;
        Ok(definition)
    }

    /// The definition as stored.
    #[must_use]
    pub fn to_json(&self) -> String {
        // A Definition always serialises: it holds only strings, numbers and enums.
        serde_json::to_string(self).unwrap_or_else(|_| "{\"questions\":[]}".to_owned())
    }

    /// The question with this id.
    #[must_use]
    pub fn question(&self, qid: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.qid == qid)
    }

    /// A question id not yet used: the next number after the largest numeric one, as Jotform numbers them.
    #[must_use]
    pub fn next_qid(&self) -> String {
        let used: Vec<u32> = self.questions.iter().filter_map(|q| q.qid.parse::<u32>().ok()).collect();
        let after_largest = used.iter().max().map_or(Some(1), |max| max.checked_add(1));
        // After u32::MAX (a qid an API client chose), the first number free.
        after_largest.or_else(|| (1..).find(|n| !used.contains(n))).unwrap_or(1).to_string()
    }

    /// Answer paths with a blind index, for exact-match search.
    #[must_use]
    pub fn indexed_paths(&self) -> Vec<&str> {
        self.questions
            .iter()
            .filter(|q| q.indexed && q.kind.takes_answer() && q.kind.parts().is_empty() && !q.kind.is_file())
            .map(|q| q.qid.as_str())
            .collect()
    }

    /// Every answer path with a readable label, in order: the question's text, and for compound answers the text
    /// and the part ("Your name – First name"). Export headers and the history diff use it.
    #[must_use]
    pub fn answer_labels(&self) -> Vec<(String, String)> {
        self.questions
            .iter()
            .filter(|q| q.kind.takes_answer() && q.kind != QuestionType::Button)
            .flat_map(|q| {
                let parts = q.kind.parts();
                if parts.is_empty() {
                    vec![(q.qid.clone(), q.text.clone())]
                } else {
                    parts
                        .iter()
                        .map(|(part, label)| (format!("{}_{part}", q.qid), format!("{} – {label}", q.text)))
                        .collect()
                }
            })
            .collect()
    }

    /// The answer paths of the questions that collect answers, in order.
    #[must_use]
    pub fn answer_paths(&self) -> Vec<String> {
        self.questions.iter().filter(|q| q.kind.takes_answer()).flat_map(Question::paths).collect()
    }

    /// Checks the definition's own rules: ids, labels, options, patterns, conditions and limits.
    ///
    /// # Errors
    /// The problems found, by question id.
    pub fn check(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.questions.len() > MAX_QUESTIONS {
            errors.insert(String::new(), format!("a form may have at most {MAX_QUESTIONS} questions"));
            return Err(errors);
        }
        let mut seen = BTreeSet::new();
        for (position, q) in self.questions.iter().enumerate() {
            let key = q.qid.clone();
            if let Err(problem) = check_question(q) {
                errors.entry(key.clone()).or_insert(problem);
            }
            if !seen.insert(q.qid.as_str()) {
                errors.entry(key.clone()).or_insert_with(|| "this question id is used twice".into());
            }
            if let Some(condition) = &q.visible_when {
                let earlier = self.questions[..position].iter().find(|e| e.qid == condition.qid);
                match earlier {
                    Some(e) if e.kind.takes_answer() && e.kind.parts().is_empty() && !e.kind.is_file() => {}
                    _ => {
                        errors
                            .entry(key)
                            .or_insert_with(|| "a condition must name an earlier question with a single answer".into());
                    }
                }
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// Which questions are visible given these answers: a question with a condition is visible when its controlling
    /// question is visible and its answer matches (or, for `hide`, does not).
    #[must_use]
    pub fn visible(&self, answers: &BTreeMap<String, String>) -> BTreeSet<String> {
        let mut visible = BTreeSet::new();
        for q in &self.questions {
            let shown = match &q.visible_when {
                None => true,
                Some(condition) => {
                    let answer = visible
                        .contains(&condition.qid)
                        .then(|| answers.get(&condition.qid))
                        .flatten()
                        .map(String::as_str)
                        .unwrap_or_default();
                    let matches = answer.split('\n').any(|choice| choice.trim() == condition.equals.trim());
                    match condition.action {
                        ConditionAction::Show => matches,
                        ConditionAction::Hide => !matches,
                    }
                }
            };
            if shown {
                visible.insert(q.qid.clone());
            }
        }
        visible
    }

    /// The questions split into pages at each page break.
    #[must_use]
    pub fn pages(&self) -> Vec<Vec<&Question>> {
        let mut pages = vec![Vec::new()];
        for q in &self.questions {
            if q.kind == QuestionType::Pagebreak {
                pages.push(Vec::new());
            } else if let Some(page) = pages.last_mut() {
                page.push(q);
            }
        }
        pages.retain(|p| !p.is_empty());
        pages
    }
}

fn check_question(q: &Question) -> Result<(), String> {
    if q.qid.is_empty() || q.qid.len() > 40 || !q.qid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("a question id must be 1 to 40 letters, digits or '-'".into());
    }
    let label_ok = |text: &str| text.chars().count() <= MAX_LABEL_CHARS && !text.chars().any(forbidden_control);
    if !label_ok(&q.text) || !label_ok(&q.help) {
        return Err(format!("question and help text may have at most {MAX_LABEL_CHARS} characters"));
    }
    if q.kind.takes_answer() && q.kind != QuestionType::Button && q.text.trim().is_empty() {
        return Err("a question needs a label".into());
    }
    if q.kind.has_options() {
        if q.options.is_empty() {
            return Err("a choice question needs at least one option".into());
        }
        if q.options.len() > MAX_OPTIONS {
            return Err(format!("a question may have at most {MAX_OPTIONS} options"));
        }
        let mut distinct = BTreeSet::new();
        for option in &q.options {
            if option.trim().is_empty() || option.contains('\n') || option.contains('\r') || !label_ok(option) {
                return Err("options must be non-empty single lines".into());
            }
            if !distinct.insert(option.trim()) {
                return Err("options must be distinct".into());
            }
        }
    } else if !q.options.is_empty() {
        return Err("only dropdown, radio and checkbox questions have options".into());
    }
    let v = &q.validation;
    if let Some(pattern) = &v.pattern {
        if pattern.chars().count() > MAX_PATTERN_CHARS {
            return Err(format!("a pattern may have at most {MAX_PATTERN_CHARS} characters"));
        }
        compile_pattern(pattern).map_err(|()| "the pattern is not a valid regular expression".to_owned())?;
    }
    if let (Some(min), Some(max)) = (v.min, v.max)
        && min > max
    {
        return Err("the minimum is larger than the maximum".into());
    }
    if v.min.is_some_and(|m| !m.is_finite()) || v.max.is_some_and(|m| !m.is_finite()) {
        return Err("minimum and maximum must be numbers".into());
    }
    if let (Some(min), Some(max)) = (v.min_length, v.max_length)
        && min > max
    {
        return Err("the minimum length is larger than the maximum length".into());
    }
    if q.kind == QuestionType::Scale {
        let (low, high) = q.scale_bounds();
        // Checked: bounds near i64's ends (a float cast saturates) wrapped past this and made the page list them.
        if high <= low || high.checked_sub(low).is_none_or(|points| points > 100) {
            return Err("a scale needs 2 to 101 points".into());
        }
    }
    if q.max_file_bytes.is_some_and(|b| b == 0 || b > MAX_FILE_BYTES) {
        return Err(format!("an upload limit must be between 1 byte and {} MiB", MAX_FILE_BYTES >> 20));
    }
    if q.accept.iter().any(|ext| ext.is_empty() || ext.len() > 10 || !ext.chars().all(|c| c.is_ascii_alphanumeric())) {
        return Err("allowed file types are extensions such as pdf or jpg".into());
    }
    Ok(())
}

/// Compiles a validation pattern anchored to the whole answer, with a size limit so a pattern cannot exhaust memory.
fn compile_pattern(pattern: &str) -> Result<regex::Regex, ()> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$")).size_limit(1 << 20).build().map_err(|_| ())
}

/// Control characters other than tab and line breaks never belong in an answer or a label.
fn forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\r' | '\t')
}

/// An uploaded file as validation sees it (the bytes are sealed elsewhere).
#[derive(Clone, Debug)]
pub struct UploadedFile {
    /// The name the respondent's device gave it.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Checks raw answers against the definition and returns the answers to seal: only visible questions, trimmed,
/// choices normalised. `raw` is keyed by answer path; `files` by question id.
///
/// # Errors
/// Field-level messages (never containing the answer): unknown fields, wrong types, missing required answers,
/// broken rules.
pub fn validate_answers(
    definition: &Definition,
    raw: &BTreeMap<String, Vec<String>>,
    files: &BTreeMap<String, UploadedFile>,
) -> Result<Answers, FieldErrors> {
    let mut errors = FieldErrors::new();
    let known: BTreeSet<String> = definition.answer_paths().into_iter().collect();
    for path in raw.keys() {
        if !known.contains(path) {
            errors.insert(path.clone(), "there is no such question on this form".into());
        }
    }
    for qid in files.keys() {
        if !definition.question(qid).is_some_and(|q| q.kind.is_file()) {
            errors.insert(qid.clone(), "this question does not take a file".into());
        }
    }
    let single = |path: &str| -> Result<String, ()> {
        match raw.get(path).map(Vec::as_slice) {
            None | Some([]) => Ok(String::new()),
            Some([one]) => Ok(one.trim().to_owned()),
            Some(_) => Err(()),
        }
    };
    // Visibility depends on the single answers; compute it from the raw values first.
    let mut plain = BTreeMap::new();
    for q in &definition.questions {
        if q.kind == QuestionType::Checkbox {
            let chosen = raw.get(&q.qid).map(|v| v.join("\n")).unwrap_or_default();
            plain.insert(q.qid.clone(), chosen);
        } else if let Ok(value) = single(&q.qid) {
            plain.insert(q.qid.clone(), value);
        }
    }
    let visible = definition.visible(&plain);
    let mut answers = Answers::new();
    for q in definition.questions.iter().filter(|q| q.kind.takes_answer() && q.kind != QuestionType::Button) {
        if !visible.contains(&q.qid) {
            continue;
        }
        let result = if q.kind.is_file() {
            check_file(q, files.get(&q.qid))
        } else if q.kind.parts().is_empty() {
            check_single(q, raw.get(&q.qid).map(Vec::as_slice).unwrap_or_default())
        } else {
            check_compound(q, &single)
        };
        match result {
            Ok(values) => {
                for (path, value) in values {
                    answers.insert(path, Zeroizing::new(value.into_bytes()));
                }
            }
            Err(message) => {
                errors.insert(q.qid.clone(), message);
            }
        }
    }
    if errors.is_empty() { Ok(answers) } else { Err(errors) }
}

type Checked = Result<Vec<(String, String)>, String>;

fn check_file(q: &Question, file: Option<&UploadedFile>) -> Checked {
    let Some(file) = file else {
        return if q.required { Err("please add a file".into()) } else { Ok(Vec::new()) };
    };
    if file.size > q.file_limit() {
        return Err(format!("the file is larger than {}", human_bytes(q.file_limit())));
    }
    if !q.accepts_file_name(&file.name) {
        return Err(format!("allowed file types: {}", q.accept.join(", ")));
    }
    let name = file.name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err("the file name is not valid".into());
    }
    Ok(vec![(q.qid.clone(), name.to_owned())])
}

fn check_compound(q: &Question, single: &dyn Fn(&str) -> Result<String, ()>) -> Checked {
    let mut values = Vec::new();
    for (part, label) in q.kind.parts() {
        let path = format!("{}_{part}", q.qid);
        let value = single(&path).map_err(|()| format!("{label}: give one answer"))?;
        if value.chars().count() > MAX_LINE_CHARS || value.chars().any(forbidden_control) {
            return Err(format!("{label}: at most {MAX_LINE_CHARS} characters of text"));
        }
        if value.is_empty() {
            if q.required && q.kind.required_parts().contains(part) {
                return Err(format!("{label} is required"));
            }
            continue;
        }
        values.push((path, value));
    }
    Ok(values)
}

fn check_single(q: &Question, raw: &[String]) -> Checked {
    let values: Vec<&str> = raw.iter().map(|v| v.trim()).filter(|v| !v.is_empty()).collect();
    if values.is_empty() {
        return if q.required { Err("this answer is required".into()) } else { Ok(Vec::new()) };
    }
    if values.iter().any(|v| v.chars().any(forbidden_control)) {
        return Err("the answer contains characters that are not allowed".into());
    }
    let answer = if q.kind == QuestionType::Checkbox {
        let mut chosen = Vec::new();
        for value in &values {
            let option = q.options.iter().find(|o| o.trim() == *value).ok_or("choose from the options given")?;
            if !chosen.contains(&option.as_str()) {
                chosen.push(option.as_str());
            }
        }
        chosen.join("\n")
    } else {
        let [value] = values.as_slice() else { return Err("give one answer".into()) };
        check_value(q, value)?
    };
    Ok(vec![(q.qid.clone(), answer)])
}

fn check_value(q: &Question, value: &str) -> Result<String, String> {
    let chars = value.chars().count();
    let v = &q.validation;
    match q.kind {
        QuestionType::Textarea if chars > MAX_TEXTAREA_CHARS => {
            return Err(format!("at most {MAX_TEXTAREA_CHARS} characters"));
        }
        QuestionType::Textarea => {}
        _ if chars > MAX_LINE_CHARS => return Err(format!("at most {MAX_LINE_CHARS} characters")),
        _ if value.contains(['\n', '\r']) => return Err("a single line, please".into()),
        _ => {}
    }
    match q.kind {
        QuestionType::Email if !looks_like_email(value) => {
            return Err("enter an e-mail address like name@example.org".into());
        }
        QuestionType::Phone if !looks_like_phone(value) => {
            return Err("enter a phone number (digits, spaces, + ( ) -)".into());
        }
        QuestionType::Number => {
            let number: f64 = value.parse().ok().filter(|n: &f64| n.is_finite()).ok_or("enter a number")?;
            if v.min.is_some_and(|min| number < min) || v.max.is_some_and(|max| number > max) {
                return Err(range_message(v.min, v.max));
            }
        }
        QuestionType::Scale => {
            let (low, high) = q.scale_bounds();
            let point: i64 = value.parse().map_err(|_| format!("choose a number from {low} to {high}"))?;
            if point < low || point > high {
                return Err(format!("choose a number from {low} to {high}"));
            }
        }
        QuestionType::Datetime if !is_date_or_datetime(value) => {
            return Err("enter a date as YYYY-MM-DD (and a time as HH:MM)".into());
        }
        QuestionType::Dropdown | QuestionType::Radio => {
            let option = q.options.iter().find(|o| o.trim() == value).ok_or("choose from the options given")?;
            return Ok(option.clone());
        }
        _ => {}
    }
    if v.min_length.is_some_and(|min| chars < min as usize) || v.max_length.is_some_and(|max| chars > max as usize) {
        return Err(match (v.min_length, v.max_length) {
            (Some(min), Some(max)) => format!("between {min} and {max} characters"),
            (Some(min), None) => format!("at least {min} characters"),
            (_, Some(max)) => format!("at most {max} characters"),
            (None, None) => unreachable!("a length rule failed without bounds"),
        });
    }
    if let Some(pattern) = &v.pattern
        && !compile_pattern(pattern).is_ok_and(|re| re.is_match(value))
    {
        return Err("the answer is not in the expected format".into());
    }
    Ok(value.to_owned())
}

fn range_message(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(min), Some(max)) => format!("enter a number from {min} to {max}"),
        (Some(min), None) => format!("enter a number of at least {min}"),
        (_, Some(max)) => format!("enter a number of at most {max}"),
        (None, None) => "enter a number".into(),
    }
}

fn looks_like_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
}

fn looks_like_phone(value: &str) -> bool {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    (5..=20).contains(&digits) && value.chars().all(|c| c.is_ascii_digit() || " +()-./".contains(c))
}

fn is_date_or_datetime(value: &str) -> bool {
    use time::macros::format_description;
    time::Date::parse(value, format_description!("[year]-[month]-[day]")).is_ok()
        || time::PrimitiveDateTime::parse(value, format_description!("[year]-[month]-[day]T[hour]:[minute]")).is_ok()
        || time::PrimitiveDateTime::parse(value, format_description!("[year]-[month]-[day] [hour]:[minute]")).is_ok()
}

/// A byte count for people: "10 MiB", "512 KiB", "900 bytes".
#[must_use]
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intake() -> Definition {
        let mut pregnant = Question::new("3", QuestionType::Radio, "Are you pregnant?");
        pregnant.options = vec!["Yes".into(), "No".into()];
        let mut weeks = Question::new("4", QuestionType::Number, "How many weeks?");
        weeks.required = true;
        weeks.validation.min = Some(1.0);
        weeks.validation.max = Some(42.0);
        weeks.visible_when = Some(Condition { qid: "3".into(), equals: "Yes".into(), action: ConditionAction::Show });
        let mut name = Question::new("1", QuestionType::Fullname, "Name");
        name.required = true;
        let mut email = Question::new("2", QuestionType::Email, "E-mail");
        email.validation.max_length = Some(60);
        Definition { questions: vec![name, email, pregnant, weeks] }
    }

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            map.entry((*k).to_owned()).or_default().push((*v).to_owned());
        }
        map
    }

    fn text(answers: &Answers, path: &str) -> Option<String> {
        answers.get(path).map(|v| String::from_utf8(v.to_vec()).unwrap())
    }

    #[test]
    fn hidden_questions_are_neither_required_nor_kept() {
        let def = intake();
        let answers = validate_answers(
            &def,
            &raw(&[("1_first", " Ada "), ("1_last", "Lovelace"), ("3", "No"), ("4", "12")]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(text(&answers, "1_first").as_deref(), Some("Ada"));
        assert_eq!(text(&answers, "4"), None, "the answer to a hidden question is dropped");
        let errors =
            validate_answers(&def, &raw(&[("1_first", "Ada"), ("1_last", "L"), ("3", "Yes")]), &BTreeMap::new())
                .unwrap_err();
        assert_eq!(errors.get("4").map(String::as_str), Some("this answer is required"));
    }

    #[test]
    fn each_rule_names_its_field() {
        let def = intake();
        let errors = validate_answers(
            &def,
            &raw(&[("1_first", "Ada"), ("2", "not an address"), ("3", "Maybe"), ("99", "x")]),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(errors.get("1").map(String::as_str), Some("Last name is required"));
        assert!(errors["2"].contains("e-mail"));
        assert_eq!(errors["3"], "choose from the options given");
        assert_eq!(errors["99"], "there is no such question on this form");
        let errors = validate_answers(
            &def,
            &raw(&[("1_first", "A"), ("1_last", "B"), ("3", "Yes"), ("4", "43")]),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(errors["4"], "enter a number from 1 to 42");
    }

    #[test]
    fn definitions_refuse_bad_structure() {
        let mut def = intake();
        def.questions[3].visible_when.as_mut().unwrap().qid = "4".into();
        assert!(def.check().unwrap_err()["4"].contains("earlier question"));
        let mut def = intake();
        def.questions[2].options = (0..10_000).map(|i| format!("option {i}")).collect();
        assert!(def.check().unwrap_err()["3"].contains("at most 500"));
        let mut def = intake();
        def.questions[1].validation.pattern = Some("(".into());
        assert!(def.check().unwrap_err()["2"].contains("regular expression"));
        let mut def = intake();
        def.questions[1].qid = "1".into();
        assert_eq!(def.check().unwrap_err()["1"], "this question id is used twice");
        assert!(
            Definition::from_json("{\"questions\":[{\"qid\":\"1\",\"type\":\"control_nope\",\"text\":\"x\"}]}")
                .is_err()
        );
    }

    /// A scale's bounds near i64's ends are refused, not wrapped into a huge range (which the public page listed).
    #[test]
    fn scale_bounds_far_apart_are_refused() {
        for (min, max) in [(-1e19, 1e19), (f64::MIN, f64::MAX), (1.0, 1e19), (-1e19, 5.0), (0.0, 101.0)] {
            let mut scale = Question::new("1", QuestionType::Scale, "How much?");
            (scale.validation.min, scale.validation.max) = (Some(min), Some(max));
            assert!(Definition { questions: vec![scale] }.check().is_err(), "{min} to {max}");
        }
        let mut scale = Question::new("1", QuestionType::Scale, "How much?");
        (scale.validation.min, scale.validation.max) = (Some(0.0), Some(100.0));
        assert!(Definition { questions: vec![scale] }.check().is_ok(), "101 points");
    }

    /// After the largest qid there is (one an API client chose), the next is the first number free.
    #[test]
    fn the_next_qid_after_the_largest_there_is_is_the_first_free() {
        let mut def = intake();
        def.questions.push(Question::new(u32::MAX.to_string(), QuestionType::Head, "Last"));
        assert_eq!(def.next_qid(), "5");
    }

    #[test]
    fn definitions_round_trip_through_json() {
        let def = intake();
        assert_eq!(Definition::from_json(&def.to_json()).unwrap(), def);
        assert_eq!(def.next_qid(), "5");
        assert_eq!(def.answer_paths()[..2], ["1_first".to_owned(), "1_last".to_owned()]);
    }

    #[test]
    fn choices_patterns_and_files() {
        let mut allergies = Question::new("1", QuestionType::Checkbox, "Allergies");
        allergies.options = vec!["Penicillin".into(), "Latex".into()];
        let mut code = Question::new("2", QuestionType::Textbox, "Code");
        code.validation.pattern = Some("[A-Z]{3}-[0-9]{2}".into());
        let mut scan = Question::new("3", QuestionType::Fileupload, "Scan");
        scan.accept = vec!["pdf".into()];
        scan.max_file_bytes = Some(1000);
        let def = Definition { questions: vec![allergies, code, scan] };
        let file = |name: &str, size| BTreeMap::from([("3".to_owned(), UploadedFile { name: name.into(), size })]);
        let answers =
            validate_answers(&def, &raw(&[("1", "Latex"), ("1", "Penicillin"), ("2", "ABC-12")]), &file("a.PDF", 10))
                .unwrap();
        assert_eq!(text(&answers, "1").as_deref(), Some("Latex\nPenicillin"));
        assert_eq!(text(&answers, "3").as_deref(), Some("a.PDF"));
        let errors = validate_answers(&def, &raw(&[("2", "abc-12")]), &file("a.exe", 10)).unwrap_err();
        assert_eq!(errors["2"], "the answer is not in the expected format");
        assert_eq!(errors["3"], "allowed file types: pdf");
        let errors = validate_answers(&def, &raw(&[]), &file("a.pdf", 1001)).unwrap_err();
        assert!(errors["3"].contains("larger than"));
    }

    #[test]
    fn control_characters_are_refused() {
        let def = Definition { questions: vec![Question::new("1", QuestionType::Textarea, "Notes")] };
        assert!(validate_answers(&def, &raw(&[("1", "line\nline")]), &BTreeMap::new()).is_ok());
        assert!(validate_answers(&def, &raw(&[("1", "nul\0")]), &BTreeMap::new()).is_err());
    }
}
