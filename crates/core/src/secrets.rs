//! Sealing pod credentials at rest.
//!
//! Credentials are encrypted with XChaCha20-Poly1305 under a key kept in a
//! file beside the configuration, never in the database, so a copy of the
//! database alone reveals no pod password. The pod's ID is the associated
//! data: a sealed blob copied onto another pod's row does not open.
//!
//! Layout of a sealed value: `[version = 1][24-byte nonce][ciphertext+tag]`.

use std::fmt;
use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use tricircle_common::{Error, Result, random};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// The key that seals and opens pod credentials.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

// Never print key material, not even in debug output.
impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn from_key(key: [u8; 32]) -> Self {
        SecretBox { cipher: XChaCha20Poly1305::new(&key.into()) }
    }

    /// Load the key from `path` (64 hex characters), creating the file with
    /// a fresh random key and mode 0600 when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let unreadable = |e: &dyn fmt::Display| {
            Error::internal(format!("secret key file {}: {e}", path.display()))
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let key = parse_hex_key(text.trim()).ok_or_else(|| {
                    unreadable(&"it must hold 64 hexadecimal characters (a 32-byte key)")
                })?;
                Ok(Self::from_key(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| unreadable(&e))?;
                }
                let key = random::bytes::<32>();
                match publish_private(path, &format!("{}\n", random::to_hex(&key))) {
                    Ok(()) => Ok(Self::from_key(key)),
                    // A replica sharing the data dir wrote it first: theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path)
                    }
                    Err(e) => Err(unreadable(&e)),
                }
            }
            Err(e) => Err(unreadable(&e)),
        }
    }

    /// Encrypt `plaintext`, bound to `context` (the pod ID).
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random::bytes::<NONCE_LEN>();
        let nonce = XNonce::from(nonce_bytes);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: context })
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypt a value sealed by [`SecretBox::seal`] with the same context.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(Error::internal("sealed credentials have an unknown format"));
        }
        let nonce = XNonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        self.cipher.decrypt(nonce, Payload { msg: &sealed[1 + NONCE_LEN..], aad: context }).map_err(
            |_| {
                Error::internal(
                    "sealed credentials do not open: wrong secret key file or tampered row",
                )
            },
        )
    }
}

fn parse_hex_key(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        key[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(key)
}

/// Write `text` (a secret) to a new file at `path`, mode 0600, unless one
/// is there already (`AlreadyExists`). The text goes to a file of its own
/// first, which is then linked into place: gateway replicas that share a
/// data dir and start together each either publish their secret or read
/// the winner's whole file, never an empty one still being written.
pub fn publish_private(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("secret");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", &random::token_hex()[..12]));
    let written = create_private(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    let published = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    published
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replicas sharing a data dir start together: all of them end up
    /// with the one key that was published.
    #[test]
    fn concurrent_creates_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let boxes: Vec<SecretBox> = std::thread::scope(|s| {
            let handles: Vec<_> =
                (0..8).map(|_| s.spawn(|| SecretBox::load_or_create(&path))).collect();
            handles.into_iter().map(|h| h.join().unwrap().expect("load_or_create")).collect()
        });
        let sealed = boxes[0].seal(b"pod", b"data");
        assert!(boxes.iter().all(|b| b.open(b"pod", &sealed).is_ok()), "one key for all");
        let left: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["secret.key"], "no temporary file left behind");
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let sb = SecretBox::from_key([7; 32]);
        let sealed = sb.seal(b"pod-a", b"s3cret");
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"), "no plaintext in the sealed value");
        assert_eq!(sb.open(b"pod-a", &sealed).unwrap(), b"s3cret");
        assert!(sb.open(b"pod-b", &sealed).is_err(), "bound to its pod");
        assert!(SecretBox::from_key([8; 32]).open(b"pod-a", &sealed).is_err(), "other key");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(sb.open(b"pod-a", &tampered).is_err());
        assert_ne!(sb.seal(b"pod-a", b"s3cret"), sealed, "fresh nonce each time");
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secret.key");
        let a = SecretBox::load_or_create(&path).unwrap();
        let sealed = a.seal(b"x", b"data");
        let b = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(b.open(b"x", &sealed).unwrap(), b"data");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        let err = SecretBox::load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("64 hexadecimal characters"));
    }
}
