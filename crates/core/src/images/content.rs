//! The content store: image bytes as files, written to a temporary name and
//! renamed once complete, with MD5 and SHA-512 computed on the way in.

use std::path::PathBuf;

use futures::StreamExt;
use md5::{Digest, Md5};
use sha2::Sha512;
use tokio::io::AsyncWriteExt;
use tricircle_common::{Error, Result, random};

#[derive(Clone, Debug)]
pub struct ContentStore {
    dir: PathBuf,
}

impl ContentStore {
    pub fn new(dir: PathBuf) -> Self {
        ContentStore { dir }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Write all of `data` as the content of `id`; returns (size, md5, sha512).
    pub async fn write(
        &self,
        id: &str,
        mut data: impl futures::Stream<Item = std::result::Result<bytes::Bytes, std::io::Error>> + Unpin,
    ) -> Result<(i64, String, String)> {
        let io =
            |e: std::io::Error| Error::internal(format!("image store {}: {e}", self.dir.display()));
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let tmp = self.dir.join(format!(".{id}.{}", &random::token_hex()[..8]));
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let (mut md5, mut sha) = (Md5::new(), Sha512::new());
        let mut size: i64 = 0;
        while let Some(chunk) = data.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(Error::bad_request(format!(
                        "The image data could not be read: {e}"
                    )));
                }
            };
            md5.update(&chunk);
            sha.update(&chunk);
            size += chunk.len() as i64;
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        tokio::fs::rename(&tmp, self.path(id)).await.map_err(io)?;
        Ok((size, random::to_hex(&md5.finalize()), random::to_hex(&sha.finalize())))
    }

    pub async fn exists(&self, id: &str) -> bool {
        tokio::fs::try_exists(self.path(id)).await.unwrap_or(false)
    }

    pub async fn open(&self, id: &str) -> Result<tokio::fs::File> {
        tokio::fs::File::open(self.path(id)).await.map_err(|e| {
            Error::internal(format!("image {id} has no data in {}: {e}", self.dir.display()))
        })
    }

    pub async fn read(&self, id: &str) -> Result<Vec<u8>> {
        tokio::fs::read(self.path(id)).await.map_err(|e| {
            Error::internal(format!("image {id} has no data in {}: {e}", self.dir.display()))
        })
    }

    pub async fn remove(&self, id: &str) {
        let _ = tokio::fs::remove_file(self.path(id)).await;
    }
}
