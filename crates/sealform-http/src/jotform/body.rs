//! Request bodies as Jotform's clients send them: form-encoded with bracketed keys on POST
//! (`submission[3][first]=Ana`, `question[type]=control_textbox`) and JSON on PUT. Both become one JSON value, so
//! each endpoint reads one shape.

use axum::body::Bytes;
use serde_json::{Map, Value};

use super::Failure;

/// Most keys a form-encoded body may hold (a form of 300 questions with compound parts fits easily).
const MAX_FIELDS: usize = 5_000;
/// Deepest bracket nesting accepted.
const MAX_DEPTH: usize = 4;

/// Parses a form-encoded body with bracketed keys into nested objects: `a[b][c]=v` sets `{"a":{"b":{"c":"v"}}}`;
/// `a[]=x&a[]=y` makes a list.
pub(crate) fn form(bytes: &Bytes) -> Result<Value, Failure> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(bytes).map_err(|_| Failure::bad_request("the form-encoded body is malformed"))?;
    if pairs.len() > MAX_FIELDS {
        return Err(Failure::bad_request(format!("a body may hold at most {MAX_FIELDS} fields")));
    }
    let mut root = Map::new();
    for (key, value) in pairs {
        let path = key_path(&key)?;
        insert(&mut root, &path, value)?;
    }
    Ok(Value::Object(root))
}

/// Parses a JSON body (PUT).
pub(crate) fn json(bytes: &Bytes) -> Result<Value, Failure> {
    serde_json::from_slice(bytes).map_err(|_| Failure::bad_request("the body is not valid JSON"))
}

/// `a[b][]` → `["a", "b", ""]`.
fn key_path(key: &str) -> Result<Vec<&str>, Failure> {
    let malformed = || Failure::bad_request("a field name of the body is malformed");
    let (head, mut rest) = key.split_once('[').map_or((key, ""), |(head, rest)| (head, rest));
    if head.is_empty() {
        return Err(malformed());
    }
    let mut path = vec![head];
    if !rest.is_empty() {
        // `rest` is `b][c]` after the first `[`.
        loop {
            let (segment, after) = rest.split_once(']').ok_or_else(malformed)?;
            path.push(segment);
            if after.is_empty() {
                break;
            }
            rest = after.strip_prefix('[').ok_or_else(malformed)?;
        }
    }
    if path.len() > MAX_DEPTH {
        return Err(malformed());
    }
    Ok(path)
}

fn insert(node: &mut Map<String, Value>, path: &[&str], value: String) -> Result<(), Failure> {
    let conflict = || Failure::bad_request("the body sets one field both as a value and as a group");
    match path {
        [] => Ok(()),
        [last] => {
            node.insert((*last).to_owned(), Value::String(value));
            Ok(())
        }
        [name, ""] => {
            let entry = node.entry((*name).to_owned()).or_insert_with(|| Value::Array(Vec::new()));
            entry.as_array_mut().ok_or_else(conflict)?.push(Value::String(value));
            Ok(())
        }
        [name, rest @ ..] => {
            let entry = node.entry((*name).to_owned()).or_insert_with(|| Value::Object(Map::new()));
            insert(entry.as_object_mut().ok_or_else(conflict)?, rest, value)
        }
    }
}

/// A value as text: strings as they are, numbers and booleans spelled out (clients send `"1"` or `1` alike).
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "Yes" } else { "No" }.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bracketed_keys_nest() {
        let body = Bytes::from_static(b"submission[3]=x&submission[2][first]=A&submission[2][last]=B&c[]=1&c[]=2");
        assert_eq!(
            form(&body).unwrap(),
            json!({"submission": {"3": "x", "2": {"first": "A", "last": "B"}}, "c": ["1", "2"]})
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in ["[x]=1", "a[b=1", "a[b]c=1", "a[1][2][3][4]=1", "a=1&a[b]=2"] {
            assert!(form(&Bytes::from(bad)).is_err(), "{bad}");
        }
        assert!(json(&Bytes::from_static(b"{nope")).is_err());
    }
}
