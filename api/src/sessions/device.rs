//! "Chrome 156 on Linux" from a stored User-Agent, for the list of a user's sessions: people
//! recognise their devices by browser and system, not by a 150-character header.
//!
//! Parsing is woothee's: its patterns are compiled into the crate (no data file to ship or load),
//! a parse takes microseconds, and it brings no dependency the service does not already have
//! (`regex`, `lazy_static`). It names the browser family and the system; that is all this needs.
//! Its last release is from 2021; its rules match version numbers rather than listing them, so
//! "Chrome 156" is read right. The actively released alternative (`ua-parser`, uap-core's
//! rules) needs its YAML rule file shipped and parsed and about a thousand regexes compiled at
//! start: worth it only if woothee starts naming browsers wrongly, and this file is the one place
//! to change then (the tests below and `sessions::the_session_list_names_the_browser_and_system_of_each_device`
//! say what must hold).

use woothee::{parser::Parser, woothee::VALUE_UNKNOWN};

/// A short description of the device behind `user_agent` ("HTTP Library" for a script's
/// `curl/8.5.0`), or `None` when neither the browser nor the system can be told (an empty or
/// made-up header).
pub fn describe(user_agent: &str) -> Option<String> {
    let parsed = Parser::new().parse(user_agent)?;
    let known = |v: &str| !v.is_empty() && v != VALUE_UNKNOWN;
    let browser = known(parsed.name).then(|| {
        // The major version is what people know ("Firefox 140"); the rest is noise here. Only
        // digits: for "HTTP Library" woothee puts the library's name ("curl") there.
        let major = parsed.version.split('.').next().unwrap_or_default();
        match (!major.is_empty() && major.bytes().all(|b| b.is_ascii_digit())).then_some(major) {
            Some(major) => format!("{} {major}", parsed.name),
            None => parsed.name.to_owned(),
        }
    });
    let system = known(parsed.os).then(|| system_name(parsed.os));
    match (browser, system) {
        (Some(browser), Some(system)) => Some(format!("{browser} on {system}")),
        (Some(browser), None) => Some(browser),
        (None, Some(system)) => Some(system.to_owned()),
        (None, None) => None,
    }
}

/// woothee's names, with Apple's current one for the Mac.
fn system_name(os: &str) -> &str {
    match os {
        "Mac OSX" => "macOS",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn browsers_are_named_with_their_major_version_and_system() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
                "Chrome 156 on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
                "Firefox 140 on Windows 10",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Safari/605.1.15",
                "Safari 26 on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
                "Safari 18 on iPhone",
            ),
        ];
        for (ua, expected) in cases {
            assert_eq!(describe(ua).as_deref(), Some(expected), "{ua}");
        }
    }

    #[test]
    fn an_agent_nothing_can_be_told_of_has_no_description() {
        for ua in ["", "-", "made up", "\u{1F600}"] {
            assert_eq!(describe(ua), None, "{ua:?}");
        }
    }
}
