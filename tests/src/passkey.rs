//! Passkeys in tests: a software authenticator that answers WebAuthn ceremonies as a platform
//! authenticator would (a P-256 key, "none" attestation, user present and verified), and the
//! HTTP helpers that drive the ceremonies. Test-only: it signs whatever it is asked to.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use p256::ecdsa::{DerSignature, SigningKey, signature::Signer};
use reqwest::Method;
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{Api, StatusCode, app::TEST_PUBLIC_URL};

/// The arguments that let a test app offer passkeys: a public URL, whose host is the
/// relying party.
pub const PASSKEY_ARGS: [&str; 2] = ["--public-url", TEST_PUBLIC_URL];

/// The relying party of [`PASSKEY_ARGS`].
pub const TEST_RP_ID: &str = "auth.example.com";

/// Flags of authenticatorData: user present, user verified, attested credential data.
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

/// One discoverable credential on a software authenticator.
pub struct SoftPasskey {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    /// The user handle the registration gave it, which a passwordless login returns.
    user_handle: Vec<u8>,
    counter: u32,
    /// The origin it reports in clientDataJSON; a browser reports the page's.
    pub origin: String,
    rp_id: String,
}

impl Default for SoftPasskey {
    fn default() -> Self {
        Self::new()
    }
}

impl SoftPasskey {
    pub fn new() -> SoftPasskey {
        // Random bytes from v4 UUIDs, the randomness the test crate already has.
        let key = loop {
            let bytes: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
                .iter()
                .flat_map(|u| *u.as_bytes())
                .collect();
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                break key;
            }
        };
        SoftPasskey {
            key,
            credential_id: uuid::Uuid::new_v4().as_bytes().to_vec(),
            user_handle: Vec::new(),
            counter: 0,
            origin: TEST_PUBLIC_URL.to_owned(),
            rp_id: TEST_RP_ID.to_owned(),
        }
    }

    /// The answer to registration options (`{"publicKey": {...}}`), as the browser's
    /// `credential.toJSON()` gives it.
    pub fn create(&mut self, options: &Value) -> Value {
        let public_key = &options["publicKey"];
        let challenge = public_key["challenge"].as_str().expect("a challenge");
        let user_id = public_key["user"]["id"].as_str().expect("a user handle");
        self.user_handle = B64.decode(user_id).expect("a base64url user handle");
        let client_data = self.client_data("webauthn.create", challenge);
        let point = self.key.verifying_key().to_sec1_point(false);
        let point = point.as_bytes();
        let cose_key = Cbor::Map(
            [
                (Cbor::Integer(1), Cbor::Integer(2)),  // kty: EC2
                (Cbor::Integer(3), Cbor::Integer(-7)), // alg: ES256
                (Cbor::Integer(-1), Cbor::Integer(1)), // crv: P-256
                (Cbor::Integer(-2), Cbor::Bytes(point[1..33].to_vec())),
                (Cbor::Integer(-3), Cbor::Bytes(point[33..65].to_vec())),
            ]
            .into_iter()
            .collect(),
        );
        let mut auth_data = self.auth_data_head(UP | UV | AT);
        auth_data.extend([0u8; 16]); // AAGUID: none
        let id_len = u16::try_from(self.credential_id.len()).expect("a short credential id");
        auth_data.extend(id_len.to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(serde_cbor_2::to_vec(&cose_key).expect("CBOR"));
        let attestation = Cbor::Map(
            [
                (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
                (Cbor::Text("attStmt".into()), Cbor::Map(Default::default())),
                (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
            ]
            .into_iter()
            .collect(),
        );
        let id = B64.encode(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": B64.encode(client_data),
                "attestationObject": B64.encode(serde_cbor_2::to_vec(&attestation).expect("CBOR")),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
    }

    /// The answer to authentication options (`{"publicKey": {...}}`): a signed assertion.
    pub fn get(&mut self, options: &Value) -> Value {
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .expect("a challenge");
        self.counter += 1;
        let client_data = self.client_data("webauthn.get", challenge);
        let auth_data = self.auth_data_head(UP | UV);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature: DerSignature = self.key.sign(&signed);
        let id = B64.encode(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": B64.encode(client_data),
                "authenticatorData": B64.encode(auth_data),
                "signature": B64.encode(signature.as_bytes()),
                "userHandle": B64.encode(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        let data = json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        });
        serde_json::to_vec(&data).expect("JSON")
    }

    /// rpIdHash, flags, signature counter.
    fn auth_data_head(&self, flags: u8) -> Vec<u8> {
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend(self.counter.to_be_bytes());
        data
    }
}

impl Api {
    /// `POST path` with an optional JSON body and session; the status and the JSON answer.
    pub async fn post_json(
        &self,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> reqwest::Response {
        self.send_body(Method::POST, path, body, token, &[]).await
    }

    /// Options of a ceremony (`path` is one of the `*options` operations): the ceremony id and
    /// the WebAuthn options.
    pub async fn passkey_options(&self, path: &str, token: Option<&str>) -> (String, Value) {
        let resp = self.post_json(path, None, token).await;
        assert_eq!(resp.status(), StatusCode::OK, "POST {path}");
        let body: Value = resp.json().await.expect("JSON");
        let id = body["ceremony_id"]
            .as_str()
            .expect("a ceremony id")
            .to_owned();
        (id, body["options"].clone())
    }

    /// Registers `key` for the session's user under `name`; the new passkey as listed.
    pub async fn register_passkey(&self, token: &str, key: &mut SoftPasskey, name: &str) -> Value {
        let (ceremony_id, options) = self
            .passkey_options("/api/auth/passkeys/options", Some(token))
            .await;
        let credential = key.create(&options);
        let body = json!({ "ceremony_id": ceremony_id, "credential": credential, "name": name });
        let resp = self
            .post_json("/api/auth/passkeys", Some(&body), Some(token))
            .await;
        assert_eq!(
            resp.status(),
            StatusCode::CREATED,
            "POST /api/auth/passkeys"
        );
        resp.json().await.expect("JSON")
    }

    /// The body of a passwordless login with `key`, on fresh options.
    pub async fn passkey_login_body(&self, key: &mut SoftPasskey) -> Value {
        let (ceremony_id, options) = self
            .passkey_options("/api/auth/passkey/options", None)
            .await;
        json!({ "ceremony_id": ceremony_id, "credential": key.get(&options) })
    }

    /// `POST /api/auth/passkey/login` with `body`.
    pub async fn passkey_login(&self, body: &Value) -> reqwest::Response {
        self.post_json("/api/auth/passkey/login", Some(body), None)
            .await
    }

    /// A passkey's answer to proof options made for the session `token`: the `passkey` of a
    /// second step or re-authentication.
    pub async fn passkey_proof(&self, token: &str, key: &mut SoftPasskey) -> Value {
        let (ceremony_id, options) = self
            .passkey_options("/api/auth/passkey/proof-options", Some(token))
            .await;
        json!({ "ceremony_id": ceremony_id, "credential": key.get(&options) })
    }
}
