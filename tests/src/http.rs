//! Talking to a running service over real HTTP, with cookies by hand: the client has no cookie
//! store, so tests read every `Set-Cookie` attribute and can replay stolen or stale cookies.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode, header};

/// A client without a cookie store and without redirects, so that tests see exactly what the
/// service answered. `timeout` bounds every request: a hang fails the test instead of stalling it.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .expect("cannot build the HTTP client")
}

/// One running service, in this process or another: where it listens and what its session
/// cookie is called.
#[derive(Clone, Debug)]
pub struct Api {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub client: reqwest::Client,
    pub cookie_name: String,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A `Cookie` header value carrying `token` under the configured cookie name.
    pub fn cookie_header(&self, token: &str) -> String {
        format!("{}={token}", self.cookie_name)
    }

    /// Sends `method path` with the session cookie (if any) and extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Response {
        self.send_body(method, path, None, token, headers).await
    }

    /// Like [`Api::send`], with a JSON body.
    pub async fn send_body(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut req = self.client.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.header(header::COOKIE, self.cookie_header(t));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = json {
            req = req.json(body);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"))
    }

    /// `POST /api/auth/password` with the given session and extra headers.
    pub async fn change_password(
        &self,
        token: &str,
        current: &str,
        new: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let body = serde_json::json!({"current_password": current, "new_password": new});
        let path = "/api/auth/password";
        self.send_body(Method::POST, path, Some(&body), Some(token), headers)
            .await
    }

    /// `POST /api/auth/login` with raw `Authorization` header bytes (or none).
    pub async fn login_raw(&self, authorization: Option<&[u8]>) -> Response {
        let mut req = self.client.post(self.url("/api/auth/login"));
        if let Some(bytes) = authorization {
            let value = header::HeaderValue::from_bytes(bytes).expect("invalid header bytes");
            req = req.header(header::AUTHORIZATION, value);
        }
        req.send().await.expect("login request failed")
    }

    /// `POST /api/auth/login` with Basic credentials and extra headers.
    pub async fn login_with(
        &self,
        username: &str,
        password: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut req = self
            .client
            .post(self.url("/api/auth/login"))
            .basic_auth(username, Some(password));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("login request failed")
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.login_with(username, password, &[]).await
    }

    /// Logs in while presenting an existing session cookie.
    pub async fn login_with_cookie(&self, username: &str, password: &str, token: &str) -> Response {
        let cookie = self.cookie_header(token);
        self.login_with(username, password, &[("cookie", &cookie)])
            .await
    }

    /// Logs in, checks it worked and returns the session token.
    pub async fn login_ok(&self, username: &str, password: &str) -> String {
        let resp = self.login(username, password).await;
        let status = resp.status();
        let token = self.session_cookie(&resp);
        assert_eq!(
            status,
            StatusCode::OK,
            "login of {username} at {} failed: {:?}",
            self.address,
            resp.text().await
        );
        token.expect("a successful login sets no session cookie")
    }

    /// The session token a response sets, if any (an empty value, i.e. a clearing cookie,
    /// counts as none).
    pub fn session_cookie(&self, resp: &Response) -> Option<String> {
        set_cookies(resp)
            .into_iter()
            .rfind(|c| c.name == self.cookie_name && !c.value.is_empty())
            .map(|c| c.value)
    }

    /// The `Set-Cookie` of the session cookie, whatever its value.
    pub fn session_set_cookie(&self, resp: &Response) -> Option<SetCookie> {
        set_cookies(resp)
            .into_iter()
            .rfind(|c| c.name == self.cookie_name)
    }

    /// `GET /api/me`, with the session cookie when a token is given.
    pub async fn me(&self, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url("/api/me"));
        if let Some(t) = token {
            req = req.header(header::COOKIE, self.cookie_header(t));
        }
        req.send().await.expect("me request failed")
    }

    /// `GET /api/me` with an arbitrary `Cookie` header.
    pub async fn me_with_cookie_header(&self, cookie: &str) -> Response {
        self.client
            .get(self.url("/api/me"))
            .header(header::COOKIE, cookie)
            .send()
            .await
            .expect("me request failed")
    }

    /// `POST /api/auth/logout`, with the session cookie when a token is given.
    pub async fn logout(&self, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url("/api/auth/logout"));
        if let Some(t) = token {
            req = req.header(header::COOKIE, self.cookie_header(t));
        }
        req.send().await.expect("logout request failed")
    }

    pub async fn healthz(&self) -> Response {
        self.client
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("healthz request failed")
    }
}

/// One `Set-Cookie` header, taken apart.
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// Attribute names as sent, with their values (`None` for flags such as `HttpOnly`).
    pub attributes: Vec<(String, Option<String>)>,
    pub raw: String,
}

impl SetCookie {
    pub fn parse(raw: &str) -> SetCookie {
        let mut parts = raw.split(';');
        let pair = parts.next().unwrap_or_default();
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let attributes = parts
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| match a.split_once('=') {
                Some((k, v)) => (k.trim().to_owned(), Some(v.trim().to_owned())),
                None => (a.to_owned(), None),
            })
            .collect();
        SetCookie {
            name: name.trim().to_owned(),
            value: value.trim().to_owned(),
            attributes,
            raw: raw.to_owned(),
        }
    }

    /// The attribute's value (`Some("")` for a flag), looked up ignoring case.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    pub fn has(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    pub fn max_age(&self) -> Option<i64> {
        self.attr("Max-Age").map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("Max-Age is not a number: {}", self.raw))
        })
    }
}

/// Every `Set-Cookie` header of a response.
pub fn set_cookies(resp: &Response) -> Vec<SetCookie> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| SetCookie::parse(v.to_str().expect("Set-Cookie is not ASCII")))
        .collect()
}

/// A response header as a string, if present.
pub fn header_str<'r>(resp: &'r Response, name: &str) -> Option<&'r str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The body of an error response, after checking it is the JSON `{code, message}` shape.
pub async fn error_body(resp: Response) -> (StatusCode, String, String) {
    let status = resp.status();
    let content_type = header_str(&resp, header::CONTENT_TYPE.as_str())
        .unwrap_or_default()
        .to_owned();
    let text = resp.text().await.expect("cannot read the error body");
    assert!(
        content_type.starts_with("application/json"),
        "{status} answered with Content-Type {content_type:?}, not JSON: {text}"
    );
    let json: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status} body is not JSON ({e}): {text}"));
    let code = json["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{status} body has no string `code`: {text}"));
    let message = json["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{status} body has no string `message`: {text}"));
    assert!(!message.is_empty(), "empty error message: {text}");
    (status, code.to_owned(), message.to_owned())
}

/// Checks a response is `status` with the JSON error `code`, and no `WWW-Authenticate`
/// (which would make browsers pop up a password dialog).
pub async fn assert_error(resp: Response, status: StatusCode, code: &str) {
    assert!(
        resp.headers().get(header::WWW_AUTHENTICATE).is_none(),
        "{} carries WWW-Authenticate: {:?}",
        resp.status(),
        resp.headers().get(header::WWW_AUTHENTICATE)
    );
    let (got_status, got_code, message) = error_body(resp).await;
    assert_eq!(
        (got_status, got_code.as_str()),
        (status, code),
        "unexpected error (message: {message})"
    );
}

/// Awaits guesses sent in parallel (each task answering its status); returns how many were
/// evaluated (401) and how many the throttle refused (429). Anything else fails the test.
pub async fn count_guesses(handles: Vec<tokio::task::JoinHandle<StatusCode>>) -> (usize, usize) {
    let (mut evaluated, mut refused) = (0, 0);
    for h in handles {
        match h.await.expect("a guessing task panicked") {
            StatusCode::UNAUTHORIZED => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("a parallel guess answered {other}"),
        }
    }
    (evaluated, refused)
}

/// The three headers every response must carry.
pub fn assert_hygiene(resp: &Response, what: &str) {
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ] {
        let got = header_str(resp, name);
        assert_eq!(
            got,
            Some(value),
            "{what}: {name} is {got:?} (status {})",
            resp.status()
        );
    }
}
