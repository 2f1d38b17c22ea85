//! `Allow` on every 405. RFC 9110 requires it, and poem's router leaves it out. The methods
//! come from the spec, so the header cannot drift from the routes.

use std::sync::{Arc, LazyLock};

use poem::{
    Endpoint, Request, Response,
    http::{HeaderValue, StatusCode, header},
};

/// Each spec path as segments (`None` for a `{parameter}`), with its `Allow` value.
static ROUTES: LazyLock<Vec<(Vec<Option<String>>, HeaderValue)>> = LazyLock::new(routes);

fn routes() -> Vec<(Vec<Option<String>>, HeaderValue)> {
    let spec: serde_json::Value =
        serde_json::from_str(&crate::http::app::openapi_json()).unwrap_or_default();
    let Some(paths) = spec["paths"].as_object() else {
        return Vec::new();
    };
    paths
        .iter()
        .filter_map(|(path, item)| {
            let mut methods: Vec<String> = item
                .as_object()?
                .keys()
                .filter(|m| {
                    matches!(
                        m.as_str(),
                        "get" | "put" | "post" | "delete" | "patch" | "options" | "trace"
                    )
                })
                .map(|m| m.to_uppercase())
                .collect();
            // poem answers HEAD wherever it answers GET.
            if methods.iter().any(|m| m == "GET") {
                methods.push("HEAD".into());
            }
            let value = HeaderValue::from_str(&methods.join(", ")).ok()?;
            let segments = path
                .split('/')
                .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                .collect();
            Some((segments, value))
        })
        .collect()
}

fn allowed(path: &str) -> Option<&'static HeaderValue> {
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES
        .iter()
        .find(|(pattern, _)| {
            pattern.len() == segments.len()
                && pattern.iter().zip(&segments).all(|(p, s)| match p {
                    Some(fixed) => fixed == s,
                    None => !s.is_empty(),
                })
        })
        .map(|(_, allow)| allow)
}

/// Adds `Allow` to a 405 that lacks it, for the API's own paths.
pub async fn allow_header<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut resp = ep.get_response(req).await;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && !resp.headers().contains_key(header::ALLOW)
        && let Some(allow) = allowed(&path)
    {
        resp.headers_mut().insert(header::ALLOW, allow.clone());
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_come_from_the_spec() {
        assert_eq!(
            allowed("/api/auth/login").map(|v| v.to_str().unwrap_or_default()),
            Some("POST")
        );
        assert_eq!(
            allowed("/api/me").map(|v| v.to_str().unwrap_or_default()),
            Some("GET, HEAD")
        );
        assert!(allowed("/nowhere").is_none());
    }
}
