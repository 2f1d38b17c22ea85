//! A JSON response body written straight from `serde::Serialize` ([`DirectJson`]), or written
//! once and sent again as shared bytes ([`Rendered`]), for the answers sent on every request
//! (`/api/me`, `/healthz`, a login's user).
//!
//! Why not poem-openapi's `Json`: it turns the value into a `serde_json::Value` first (a map
//! node and a `String` per field, each timestamp formatted into a fresh `String`), then
//! serializes that tree: a third of the cost of a cached `/api/me`. The schema still comes from
//! the type's `Object` derive, so the spec is unchanged; a test per type holds the two
//! serializations to the same JSON value (`same_json_as_poem_openapi`).

use std::marker::PhantomData;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use poem::{
    Body, IntoResponse, Response,
    http::{HeaderMap, HeaderValue, StatusCode, header},
};
use poem_openapi::{
    ApiResponse,
    payload::Payload,
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry},
    types::Type,
};

/// The body: `T` as JSON, described in the spec by `T`'s schema.
#[derive(Debug)]
pub struct DirectJson<T>(pub T);

/// poem-openapi's, so that the spec and the header read as before.
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

impl<T: Type> Payload for DirectJson<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: serde::Serialize + Send> IntoResponse for DirectJson<T> {
    fn into_response(self) -> Response {
        match Rendered::new(&self.0) {
            Some(body) => body.into_response(),
            // Only a map with non-string keys or a failing `Serialize` impl get here: a bug.
            None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

impl<T: Type + serde::Serialize + Send> ApiResponse for DirectJson<T> {
    fn meta() -> MetaResponses {
        ok_meta::<T>()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// A 200 with a JSON body of `T`'s schema, as poem-openapi's `Json<T>` declares one.
fn ok_meta<T: Type>() -> MetaResponses {
    MetaResponses {
        responses: vec![MetaResponse {
            description: "",
            status: Some(200),
            status_range: None,
            content: vec![MetaMediaType {
                content_type: CONTENT_TYPE,
                schema: T::schema_ref(),
            }],
            headers: vec![],
        }],
    }
}

/// A JSON body written earlier, described in the spec by `T`'s schema exactly as
/// [`DirectJson<T>`] is: for a body sent again and again unchanged (`/api/me`'s, see
/// `http::user::rendered`). Sending it costs a reference count.
#[derive(Debug)]
pub struct Rendered<T> {
    body: Bytes,
    of: PhantomData<fn() -> T>,
}

impl<T: serde::Serialize> Rendered<T> {
    /// `value` as JSON; `None` (logged) only for a bug: a map with non-string keys or a
    /// failing `Serialize` impl.
    pub fn new(value: &T) -> Option<Self> {
        // Room for a user up front: grown from empty, the buffer was reallocated five times.
        let mut body = Vec::with_capacity(384);
        match serde_json::to_writer(&mut body, value) {
            Ok(()) => Some(Rendered {
                body: Bytes::from(body),
                of: PhantomData,
            }),
            Err(e) => {
                tracing::error!(error = %e, "a response body did not serialize");
                None
            }
        }
    }
}

impl<T> Clone for Rendered<T> {
    fn clone(&self) -> Self {
        Rendered {
            body: self.body.clone(),
            of: PhantomData,
        }
    }
}

impl<T: Type> Payload for Rendered<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for Rendered<T> {
    fn into_response(self) -> Response {
        let mut resp = Response::from(Body::from_bytes(self.body));
        // Sized once for what every answer gets on its way out (`request_span`: the hygiene
        // headers, `Vary`, the request id; a renewed cookie), instead of growing twice.
        let headers = resp.headers_mut();
        *headers = HeaderMap::with_capacity(12);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        resp
    }
}

impl<T: Type + Send> ApiResponse for Rendered<T> {
    fn meta() -> MetaResponses {
        ok_meta::<T>()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// A timestamp as poem-openapi writes one (`to_rfc3339`: `+00:00`, not chrono's serde `Z`;
/// a fraction of 0, 3, 6 or 9 digits, as few as it needs), so that a field reads the same
/// whichever way its body was made. Written into a buffer on the stack: chrono's own makes a
/// `String` each time, and two per user were a sixth of a cached `/api/me`'s body.
pub fn rfc3339<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike, Timelike};
    let year = at.year();
    if !(0..=9999).contains(&year) {
        return s.serialize_str(&at.to_rfc3339());
    }
    // A leap second is nanoseconds past 1e9, which chrono writes as second 60.
    let nanos = at.nanosecond();
    let (second, nanos) = match nanos >= 1_000_000_000 {
        true => (at.second() + 1, nanos - 1_000_000_000),
        false => (at.second(), nanos),
    };
    let (fraction, width) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    let mut b = Buf {
        bytes: [0; 35],
        len: 0,
    };
    b.num(year as u32, 4);
    b.byte(b'-');
    b.num(at.month(), 2);
    b.byte(b'-');
    b.num(at.day(), 2);
    b.byte(b'T');
    b.num(at.hour(), 2);
    b.byte(b':');
    b.num(at.minute(), 2);
    b.byte(b':');
    b.num(second, 2);
    if width > 0 {
        b.byte(b'.');
        b.num(fraction, width);
    }
    for &c in b"+00:00" {
        b.byte(c);
    }
    s.serialize_str(b.as_str())
}

/// Room for `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+00:00`.
struct Buf {
    bytes: [u8; 35],
    len: usize,
}

impl Buf {
    fn byte(&mut self, c: u8) {
        self.bytes[self.len] = c;
        self.len += 1;
    }

    /// `value` in `width` digits, zero-padded.
    fn num(&mut self, value: u32, width: u32) {
        for i in (0..width).rev() {
            self.byte(b'0' + (value / 10u32.pow(i) % 10) as u8);
        }
    }

    fn as_str(&self) -> &str {
        // ASCII digits and separators only.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// [`rfc3339`] for an optional timestamp (`null` when absent, as poem-openapi writes it).
pub fn rfc3339_opt<S: serde::Serializer>(
    at: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use poem_openapi::types::ToJSON;

    use super::*;

    /// The body [`DirectJson`] sends for `value`, parsed.
    pub(crate) async fn direct(value: impl serde::Serialize + Send) -> serde_json::Value {
        let resp = DirectJson(value).into_response();
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = resp.into_body().into_vec().await.expect("a body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    /// Asserts that `value` reads the same from [`DirectJson`] as from poem-openapi's `Json`.
    pub(crate) async fn same_json_as_poem_openapi<T>(value: T)
    where
        T: serde::Serialize + ToJSON + Send,
    {
        let expected = value.to_json().expect("a value");
        assert_eq!(direct(value).await, expected);
    }

    #[test]
    fn timestamps_are_written_as_poem_openapi_writes_them() {
        use chrono::TimeZone;
        for at in [
            Utc.timestamp_opt(1_442_620_564, 0).unwrap(),
            Utc.timestamp_opt(1_442_620_564, 435_072_000).unwrap(),
            Utc.timestamp_opt(1_442_620_564, 1).unwrap(),
            Utc.timestamp_opt(1_442_620_564, 120_000_000).unwrap(),
            Utc.timestamp_opt(1_442_620_564, 999_999_000).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
                .unwrap()
                .and_utc(),
            Utc.timestamp_opt(253_402_300_799, 0).unwrap(),
            Utc.timestamp_opt(-1, 0).unwrap(),
            Utc::now(),
            DateTime::UNIX_EPOCH,
        ] {
            let mut out = Vec::new();
            rfc3339(&at, &mut serde_json::Serializer::new(&mut out)).expect("writes");
            assert_eq!(out, format!("{:?}", at.to_rfc3339()).into_bytes(), "{at:?}");
        }
    }
}
