//! Server secrets: the code HMAC keys and the token signing keys.
//!
//! Generated into `<data_dir>/keys.toml` (mode 0600) on first start when none are
//! configured; `OTPGATE_CODE_HMAC_KEYS` (comma-separated base64, newest first) overrides the
//! file, which is how several instances share one set. There is never a default key.

use app::gateway::{
    code::{CodeHasher, CodeKey},
    secret::random_bytes,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde::{Deserialize, Serialize};
use std::{fmt, path::Path};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} is corrupt: {1}. Restore it from a backup, or delete it to start over (codes in flight stop verifying)")]
    Corrupt(String, String),
    #[error("OTPGATE_CODE_HMAC_KEYS must be comma-separated base64 keys of 32 bytes; make one with `openssl rand -base64 32`")]
    BadEnvKey,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    /// Newest first; only the first signs.
    code_hmac_keys: Vec<String>,
    /// Ed25519 seeds for verification tokens, newest first.
    token_signing_keys: Vec<String>,
}

/// The loaded keys. `Debug` shows none of them.
pub struct ServerKeys {
    pub code_hasher: CodeHasher,
    pub token_seeds: Vec<[u8; 32]>,
}

impl fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKeys(<redacted>)")
    }
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    STANDARD.decode(text.trim()).ok()?.try_into().ok()
}

impl ServerKeys {
    /// Loads the keys from the data folder, creating them on first start.
    pub fn load_or_create(data_dir: &Path, env_keys: Option<String>) -> Result<Self, KeyError> {
        let path = data_dir.join("keys.toml");
        let shown = path.display().to_string();
        let io = |source| KeyError::Io {
            path: shown.clone(),
            source,
        };
        let file = if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(io)?;
            toml::from_str::<KeyFile>(&text)
                .map_err(|e| KeyError::Corrupt(shown.clone(), e.to_string()))?
        } else {
            std::fs::create_dir_all(data_dir).map_err(io)?;
            let file = KeyFile {
                code_hmac_keys: vec![STANDARD.encode(random_bytes::<32>())],
                token_signing_keys: vec![STANDARD.encode(random_bytes::<32>())],
            };
            let text = format!(
                "# otpgate server keys, generated on first start. Keep this file secret and back it\n\
                 # up with the database: without it, codes in flight and issued tokens stop verifying.\n{}",
                toml::to_string(&file).expect("key file serialises")
            );
            write_private(&path, &text).map_err(io)?;
            tracing::info!(path = %path.display(), "generated server keys");
            file
        };
        let hmac_texts: Vec<String> = match env_keys {
            Some(list) => list.split(',').map(str::to_owned).collect(),
            None => file.code_hmac_keys,
        };
        let mut hmac_keys = Vec::new();
        for text in &hmac_texts {
            let key = decode_key(text).ok_or(KeyError::BadEnvKey)?;
            hmac_keys.push(CodeKey::from_bytes(key));
        }
        let token_seeds = file
            .token_signing_keys
            .iter()
            .map(|t| {
                decode_key(t)
                    .ok_or_else(|| KeyError::Corrupt(shown.clone(), "bad token key".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let code_hasher = CodeHasher::new(hmac_keys)
            .ok_or_else(|| KeyError::Corrupt(shown.clone(), "no code key".into()))?;
        if token_seeds.is_empty() {
            return Err(KeyError::Corrupt(shown, "no token key".into()));
        }
        Ok(Self {
            code_hasher,
            token_seeds,
        })
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("toml.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::gateway::code::{CodeSpec, OtpCode};

    #[test]
    fn keys_are_generated_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServerKeys::load_or_create(dir.path(), None).unwrap();
        let code = OtpCode::generate(CodeSpec::default());
        let stored = first.code_hasher.hash("ns", "id", &code);
        let again = ServerKeys::load_or_create(dir.path(), None).unwrap();
        assert!(again.code_hasher.verify("ns", "id", &code, &stored));
        assert_eq!(first.token_seeds, again.token_seeds);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keys.toml"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn environment_keys_take_precedence_and_must_be_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let key = STANDARD.encode([9u8; 32]);
        assert!(ServerKeys::load_or_create(dir.path(), Some(key)).is_ok());
        let err = ServerKeys::load_or_create(dir.path(), Some("c2hvcnQ=".into())).unwrap_err();
        assert!(matches!(err, KeyError::BadEnvKey));
    }
}
