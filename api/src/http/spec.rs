//! What the spec gets beyond poem-openapi's output: each operation's `operationId` (see
//! [`OPERATION_IDS`] for why it is not declared with the attribute), and OpenAPI links from
//! login to the operations its session cookie unlocks. They document the flow login -> getMe
//! -> logout and let stateful testers (schemathesis) chain those calls.
//!
//! The spec is edited as an order-preserving JSON tree, so the result differs from
//! poem-openapi's output only by what is added (serde_json's own `Value` would sort every
//! object's keys, and its `preserve_order` feature would change `Value` for the whole build).

use std::fmt;

use poem::{Endpoint, Response, endpoint::make_sync};
use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{MapAccess, SeqAccess, Visitor},
    ser::{SerializeMap, SerializeSeq},
};

/// `(from operationId, status, link name, to operationId, description)`. None carries
/// parameters: what passes from one call to the next is the session cookie, which the browser
/// (or the test client) keeps by itself.
const LINKS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "login",
        "200",
        "getMe",
        "getMe",
        "The session cookie set by login authenticates getMe.",
    ),
    (
        "login",
        "200",
        "logout",
        "logout",
        "The session cookie set by login is what logout ends.",
    ),
    (
        "getMe",
        "200",
        "logout",
        "logout",
        "The same session cookie ends the session.",
    ),
];

/// Every operation's `operationId` (the generated client's name for it), by method and path
/// as the spec writes them, in the spec's order. Declared here rather than with
/// poem-openapi's `operation_id` attribute, which also wraps the operation in a layer that
/// records the id in every answer's extensions: a future, an allocation and a hash insert per
/// request, which nothing reads. `finish` puts each where the attribute did, last in its
/// operation, so the spec is the same to the byte; a test holds this list to the operations.
#[rustfmt::skip]
pub const OPERATION_IDS: &[(&str, &str, &str)] = &[
    ("post", "/api/auth/login", "login"),
    ("get", "/api/me", "getMe"),
    ("post", "/api/auth/logout", "logout"),
    ("get", "/api/auth/sessions", "listSessions"),
    ("delete", "/api/auth/sessions", "endOtherSessions"),
    ("delete", "/api/auth/sessions/{id}", "endSession"),
    ("post", "/api/auth/password", "changePassword"),
    ("post", "/api/auth/email", "changeEmail"),
    ("post", "/api/auth/second-factor", "completeSecondFactor"),
    ("get", "/api/auth/totp", "getSecondFactors"),
    ("post", "/api/auth/totp", "enrollTotp"),
    ("delete", "/api/auth/totp", "disableTotp"),
    ("post", "/api/auth/totp/confirm", "confirmTotp"),
    ("post", "/api/auth/recovery-codes", "regenerateRecoveryCodes"),
    ("post", "/api/auth/reauthenticate", "reauthenticate"),
    ("get", "/api/auth/passkeys", "listPasskeys"),
    ("post", "/api/auth/passkeys", "registerPasskey"),
    ("post", "/api/auth/passkeys/options", "passkeyRegistrationOptions"),
    ("patch", "/api/auth/passkeys/{id}", "renamePasskey"),
    ("delete", "/api/auth/passkeys/{id}", "removePasskey"),
    ("post", "/api/auth/passkey/proof-options", "passkeyProofOptions"),
    ("post", "/api/auth/passkey/options", "passkeyLoginOptions"),
    ("post", "/api/auth/passkey/login", "passkeyLogin"),
    ("post", "/api/auth/signup", "signUp"),
    ("post", "/api/auth/email/verify", "verifyEmail"),
    ("post", "/api/auth/email/resend", "resendVerification"),
    ("post", "/api/auth/password-reset", "requestPasswordReset"),
    ("post", "/api/auth/password-reset/confirm", "resetPassword"),
    ("get", "/api/auth/verify", "verifySession"),
    ("get", "/healthz", "getHealth"),
    ("get", "/livez", "getLiveness"),
    ("get", "/readyz", "getReadiness"),
];

/// poem-openapi's spec with the operation ids and links added. Should the spec ever not parse,
/// it is returned as it is: the spec tests then fail on the missing ids and links rather than
/// the server on startup.
pub fn finish(spec: String) -> String {
    let Ok(mut doc) = serde_json::from_str::<Json>(&spec) else {
        return spec;
    };
    operation_ids(&mut doc);
    for (from, status, name, to, description) in LINKS {
        if let Some(response) = response_of(&mut doc, from, status) {
            let link = Json::Object(vec![
                ("operationId".into(), Json::String((*to).into())),
                ("description".into(), Json::String((*description).into())),
            ]);
            response.entry("links").entry_or_insert(name, link);
        }
    }
    canonical_header_names(&mut doc);
    error_examples(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap_or(spec)
}

/// Each operation's id from [`OPERATION_IDS`], last among its fields.
fn operation_ids(doc: &mut Json) {
    for_each_operation(doc, |path, method, op| {
        let id = OPERATION_IDS
            .iter()
            .find(|(m, p, _)| *m == method && *p == path)
            .map(|(_, _, id)| *id);
        if let (Some(id), Json::Object(fields)) = (id, op) {
            fields.push(("operationId".into(), Json::String(id.into())));
        }
    });
}

/// Calls `f` with the path, method and object of every operation.
fn for_each_operation(doc: &mut Json, mut f: impl FnMut(&str, &str, &mut Json)) {
    let Some(Json::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Json::Object(ops) = item else { continue };
        for (method, op) in ops.iter_mut() {
            f(path, method, op);
        }
    }
}

/// Calls `f` with the status and object of every response of every operation.
fn for_each_response(doc: &mut Json, mut f: impl FnMut(&str, &mut Json)) {
    for_each_operation(doc, |_, _, op| {
        if let Some(Json::Object(responses)) = op.get_mut("responses") {
            for (status, response) in responses.iter_mut() {
                f(status, response);
            }
        }
    });
}

/// poem-openapi writes response header names in capitals (`SET-COOKIE`); HTTP does not care,
/// but generated clients use the names as keys, so they get their usual spelling.
fn canonical_header_names(doc: &mut Json) {
    for_each_response(doc, |_, response| {
        if let Some(Json::Object(headers)) = response.get_mut("headers") {
            for (name, _) in headers.iter_mut() {
                *name = canonical(name);
            }
        }
    });
}

/// poem-openapi gives every response of a schema that schema's one example, so Swagger UI
/// would show `invalid_credentials` for a 503. Each error response gets instead one example
/// per code its description names (they are written as `` `code` ``), in that order.
fn error_examples(doc: &mut Json) {
    let bodies = crate::http::errors::example_bodies();
    for_each_response(doc, |status, response| {
        if !(status.starts_with('4') || status.starts_with('5')) {
            return;
        }
        let Some(Json::String(description)) = response.get("description") else {
            return;
        };
        let examples: Vec<(String, Json)> = description
            .split('`')
            .skip(1)
            .step_by(2)
            .filter_map(|code| bodies.iter().find(|b| b.code.to_string() == code))
            .map(|b| {
                let code = b.code.to_string();
                let value = Json::Object(vec![
                    ("code".into(), Json::String(code.clone())),
                    ("message".into(), Json::String(b.message.clone())),
                ]);
                (code, Json::Object(vec![("value".into(), value)]))
            })
            .collect();
        if examples.is_empty() {
            return;
        }
        if let Some(Json::Object(content)) = response.get_mut("content") {
            for (_, media) in content.iter_mut() {
                media.entry_or_insert("examples", Json::Object(examples.clone()));
            }
        }
    });
}

/// `SET-COOKIE` -> `Set-Cookie`.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let mut chars = lower.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Serves the finished spec, as poem-openapi's `spec_endpoint` serves its own.
pub fn endpoint(spec: String) -> impl Endpoint<Output = Response> {
    make_sync(move |_| {
        Response::builder()
            .content_type("application/json")
            .body(spec.clone())
    })
}

/// The response object `status` of the operation named `operation_id`.
fn response_of<'a>(doc: &'a mut Json, operation_id: &str, status: &str) -> Option<&'a mut Json> {
    let Json::Object(paths) = doc.get_mut("paths")? else {
        return None;
    };
    paths
        .iter_mut()
        .filter_map(|(_, item)| match item {
            Json::Object(ops) => Some(ops),
            _ => None,
        })
        .flat_map(|ops| ops.iter_mut().map(|(_, op)| op))
        .find(|op| matches!(op.get("operationId"), Some(Json::String(id)) if id == operation_id))?
        .get_mut("responses")?
        .get_mut(status)
}

/// A JSON value whose objects keep their keys in document order.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        match self {
            Json::Object(fields) => fields.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The object under `key`, created empty at the end if absent.
    fn entry(&mut self, key: &str) -> &mut Json {
        self.entry_or_insert(key, Json::Object(Vec::new()))
    }

    /// The value under `key`, `value` inserted at the end if absent. A non-object is turned
    /// into an empty object first; the spec never has one where this is called.
    fn entry_or_insert(&mut self, key: &str, value: Json) -> &mut Json {
        if !matches!(self, Json::Object(_)) {
            *self = Json::Object(Vec::new());
        }
        match self {
            Json::Object(fields) => {
                let index = match fields.iter().position(|(k, _)| k == key) {
                    Some(i) => i,
                    None => {
                        fields.push((key.to_owned(), value));
                        fields.len() - 1
                    }
                };
                &mut fields[index].1
            }
            // Not reached: made an object just above.
            other => other,
        }
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(v) => s.serialize_str(v),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct JsonVisitor;

        impl<'de> Visitor<'de> for JsonVisitor {
            type Value = Json;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Json, E> {
                serde_json::Number::from_f64(v)
                    .map(Json::Number)
                    .ok_or_else(|| E::custom("a number JSON cannot hold"))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut fields = Vec::new();
                while let Some((k, v)) = map.next_entry()? {
                    fields.push((k, v));
                }
                Ok(Json::Object(fields))
            }
        }

        d.deserialize_any(JsonVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_key_order_and_formatting() {
        let text =
            serde_json::to_string_pretty(&serde_json::json!({"b": 1, "a": [true, null, 1.5, "x"]}))
                .expect("serialises");
        // json! sorts keys; reorder by hand to prove order is kept, not re-sorted.
        let text = text.replacen("\"a\"", "\"z\"", 1);
        let parsed: Json = serde_json::from_str(&text).expect("parses");
        assert_eq!(
            serde_json::to_string_pretty(&parsed).expect("serialises"),
            text
        );
    }

    #[test]
    fn every_operation_has_one_id_and_every_id_one_operation() {
        let raw: serde_json::Value =
            serde_json::from_str(&crate::http::app::openapi_service().spec()).expect("JSON");
        let mut operations = Vec::new();
        for (path, item) in raw["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("operations") {
                // Declared here, not by poem-openapi (see OPERATION_IDS).
                assert!(op.get("operationId").is_none(), "{method} {path}");
                operations.push((method.clone(), path.clone()));
            }
        }
        let mut listed: Vec<(String, String)> = OPERATION_IDS
            .iter()
            .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        operations.sort();
        listed.sort();
        assert_eq!(listed, operations);
        let mut ids: Vec<&str> = OPERATION_IDS.iter().map(|(_, _, id)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), OPERATION_IDS.len(), "an id twice");
        let finished: serde_json::Value =
            serde_json::from_str(&crate::http::app::openapi_json()).expect("JSON");
        for (method, path, id) in OPERATION_IDS {
            assert_eq!(finished["paths"][path][method]["operationId"], *id);
        }
    }

    #[test]
    fn links_are_added_to_the_named_responses() {
        let spec = crate::http::app::openapi_json();
        let v: serde_json::Value = serde_json::from_str(&spec).expect("spec is JSON");
        let login = &v["paths"]["/api/auth/login"]["post"]["responses"]["200"]["links"];
        assert_eq!(login["getMe"]["operationId"], "getMe");
        assert_eq!(login["logout"]["operationId"], "logout");
        let me = &v["paths"]["/api/me"]["get"]["responses"]["200"]["links"];
        assert_eq!(me["logout"]["operationId"], "logout");
    }
}
