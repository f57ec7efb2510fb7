//! Content-addressed byte store for image, volume, snapshot and backup data.
//!
//! Later issues must prove that copying an image or migrating a volume preserved its bytes, so
//! the data is real. It is kept once per distinct content: a volume made from an image, its
//! snapshot and its backup all refer to the same [`Bytes`] (a reference count, not a copy),
//! keyed by the SHA-512 that Glance reports as `os_hash_value` anyway. Unreferenced content is
//! dropped by [`BlobStore::retain`] after deletes. In the state file each content appears once,
//! base64-encoded.

use std::collections::{BTreeMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use md5::Md5;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha512};

/// Key of a stored content: its SHA-512 in hex.
pub type BlobKey = String;

/// Digests of one content, as Glance reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    pub md5: String,
    pub sha512: String,
    pub size: u64,
}

pub fn digests(data: &[u8]) -> Digests {
    Digests {
        md5: hex::encode(Md5::digest(data)),
        sha512: hex::encode(Sha512::digest(data)),
        size: data.len() as u64,
    }
}

#[derive(Clone, Debug, Default)]
pub struct BlobStore {
    blobs: BTreeMap<BlobKey, Bytes>,
}

impl BlobStore {
    /// Store `data` (or find the same content) and return its key and digests.
    pub fn put(&mut self, data: Bytes) -> (BlobKey, Digests) {
        let d = digests(&data);
        self.blobs.entry(d.sha512.clone()).or_insert(data);
        (d.sha512.clone(), d)
    }

    /// The content under `key` (a cheap reference-counted handle).
    pub fn get(&self, key: &str) -> Option<Bytes> {
        self.blobs.get(key).cloned()
    }

    /// Drop every content whose key is not in `used`.
    pub fn retain(&mut self, used: &HashSet<&str>) {
        self.blobs.retain(|k, _| used.contains(k.as_str()));
    }

    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Total bytes held.
    pub fn total_bytes(&self) -> usize {
        self.blobs.values().map(Bytes::len).sum()
    }
}

impl Serialize for BlobStore {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<&str, String> =
            self.blobs.iter().map(|(k, v)| (k.as_str(), STANDARD.encode(v))).collect();
        m.serialize(s)
    }
}

impl<'de> Deserialize<'de> for BlobStore {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = BTreeMap::<String, String>::deserialize(d)?;
        let mut blobs = BTreeMap::new();
        for (k, v) in m {
            let bytes = STANDARD.decode(v).map_err(serde::de::Error::custom)?;
            blobs.insert(k, Bytes::from(bytes));
        }
        Ok(BlobStore { blobs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_is_stored_once_and_shared() {
        let mut s = BlobStore::default();
        let data = Bytes::from_static(b"hello");
        let (k1, d) = s.put(data.clone());
        let (k2, _) = s.put(Bytes::from(b"hello".to_vec()));
        assert_eq!(k1, k2);
        assert_eq!(s.len(), 1);
        assert_eq!(d.md5, "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(s.get(&k1).unwrap(), data);
        s.retain(&HashSet::new());
        assert!(s.is_empty());
    }

    #[test]
    fn round_trips_through_json() {
        let mut s = BlobStore::default();
        let (k, _) = s.put(Bytes::from_static(&[0, 1, 2, 255]));
        let json = serde_json::to_string(&s).unwrap();
        let back: BlobStore = serde_json::from_str(&json).unwrap();
        assert_eq!(back.get(&k).unwrap().as_ref(), &[0, 1, 2, 255]);
    }
}
