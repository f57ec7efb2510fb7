//! Keypairs, per user. Create answers 201 from 2.2 (200 before) and delete 204 from 2.2 (202
//! before), as Nova does. Without a public key (allowed below 2.92) a key is "generated": the
//! sim hands back a well-formed but fake OpenSSH key pair, since nobody logs into a sim guest.

use axum::body::Bytes;
use axum::extract::{Path, State};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{Value, json};

use super::SVC;
use crate::http::{ApiError, ApiResult, Ctx, Query, empty, json_resp, parse_wrapped};
use crate::model::compute::{Keypair, keypair_key};
use crate::pod::Pod;

/// `aa:bb:...` MD5 of the key blob, as `ssh-keygen -l -E md5` prints it.
fn fingerprint(public_key: &str) -> String {
    let blob = public_key.split_whitespace().nth(1).and_then(|b| STANDARD.decode(b).ok());
    let digest = Md5::digest(blob.as_deref().unwrap_or(public_key.as_bytes()));
    digest.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn owner(ctx: &Ctx, q: &Query) -> ApiResult<String> {
    match q.get("user_id") {
        Some(u) if u != ctx.user_id => {
            if ctx.is_admin {
                Ok(u.to_string())
            } else {
                Err(ApiError::forbidden(
                    SVC,
                    "Policy doesn't allow os_compute_api:os-keypairs:index to be performed.",
                ))
            }
        }
        _ => Ok(ctx.user_id.clone()),
    }
}

fn brief(ctx: &Ctx, k: &Keypair) -> Value {
    let mut v = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
    if ctx.mv.ge(2, 2) {
        v["type"] = json!(k.key_type);
    }
    v
}

pub async fn list(State(pod): State<Pod>, ctx: Ctx, q: Query) -> ApiResult {
    let user = owner(&ctx, &q)?;
    let st = pod.read();
    let list: Vec<Value> = st
        .compute
        .keypairs
        .values()
        .filter(|k| k.user_id == user)
        .map(|k| json!({"keypair": brief(&ctx, k)}))
        .collect();
    Ok(json_resp(200, json!({"keypairs": list})))
}

fn keypair_nf(name: &str, user: &str) -> ApiError {
    ApiError::not_found(SVC, "KeypairNotFound", format!("Keypair {name} not found for user {user}"))
}

pub async fn show(
    State(pod): State<Pod>,
    ctx: Ctx,
    q: Query,
    Path(name): Path<String>,
) -> ApiResult {
    let user = owner(&ctx, &q)?;
    let st = pod.read();
    let k = st
        .compute
        .keypairs
        .get(&keypair_key(&user, &name))
        .ok_or_else(|| keypair_nf(&name, &user))?;
    let mut v = brief(&ctx, k);
    v["user_id"] = json!(k.user_id);
    v["deleted"] = json!(false);
    v["created_at"] = json!(k.created_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string());
    v["updated_at"] = Value::Null;
    v["deleted_at"] = Value::Null;
    v["id"] = json!(k.id);
    Ok(json_resp(200, json!({"keypair": v})))
}

#[derive(Deserialize)]
struct CreateReq {
    name: String,
    public_key: Option<String>,
    #[serde(rename = "type")]
    key_type: Option<String>,
    user_id: Option<String>,
}

pub async fn create(State(pod): State<Pod>, ctx: Ctx, body: Bytes) -> ApiResult {
    let r: CreateReq = parse_wrapped(SVC, &body, "keypair")?;
    let valid = !r.name.is_empty()
        && r.name.len() <= 255
        && r.name.chars().all(|c| c.is_ascii_alphanumeric() || " _-.@".contains(c));
    if !valid {
        return Err(ApiError::bad_request(
            SVC,
            format!("Invalid input for field/attribute name. Value: {}.", r.name),
        ));
    }
    if r.public_key.is_none() && ctx.mv.ge(2, 92) {
        return Err(ApiError::bad_request(
            SVC,
            "Invalid input for field/attribute keypair. Value: 'public_key' is a required property",
        ));
    }
    let user = match r.user_id.filter(|_| ctx.mv.ge(2, 10)) {
        Some(u) if u != ctx.user_id && !ctx.is_admin => {
            return Err(ApiError::forbidden(
                SVC,
                "Policy doesn't allow os_compute_api:os-keypairs:create to be performed.",
            ));
        }
        Some(u) => u,
        None => ctx.user_id.clone(),
    };
    let key_type = r.key_type.filter(|_| ctx.mv.ge(2, 2)).unwrap_or_else(|| "ssh".into());
    if key_type != "ssh" && key_type != "x509" {
        return Err(ApiError::bad_request(SVC, "Invalid input for field/attribute type."));
    }
    let (public_key, private_key) = match r.public_key {
        Some(k) => {
            if k.split_whitespace().count() < 2 {
                return Err(ApiError::bad_request(
                    SVC,
                    "Keypair data is invalid: failed to generate fingerprint",
                ));
            }
            (k, None)
        }
        None => {
            let blob = STANDARD.encode(uuid::Uuid::new_v4().as_bytes().repeat(8));
            (
                format!("ssh-rsa {blob} Generated-by-Nova"),
                Some(format!(
                    "-----BEGIN OPENSSH PRIVATE KEY-----\n{blob}\n-----END OPENSSH PRIVATE KEY-----\n"
                )),
            )
        }
    };
    let mut st = pod.write();
    let key = keypair_key(&user, &r.name);
    if st.compute.keypairs.contains_key(&key) {
        return Err(ApiError::conflict(
            SVC,
            "KeyPairExists",
            format!("Key pair '{}' already exists.", r.name),
        ));
    }
    st.compute.next_keypair_id += 1;
    let k = Keypair {
        id: st.compute.next_keypair_id,
        name: r.name,
        user_id: user,
        fingerprint: fingerprint(&public_key),
        public_key,
        key_type,
        created_at: Utc::now(),
    };
    st.compute.keypairs.insert(key, k.clone());
    let mut v = brief(&ctx, &k);
    v["user_id"] = json!(k.user_id);
    if let Some(p) = private_key {
        v["private_key"] = json!(p);
    }
    Ok(json_resp(if ctx.mv.ge(2, 2) { 201 } else { 200 }, json!({"keypair": v})))
}

pub async fn delete(
    State(pod): State<Pod>,
    ctx: Ctx,
    q: Query,
    Path(name): Path<String>,
) -> ApiResult {
    let user = owner(&ctx, &q)?;
    pod.write()
        .compute
        .keypairs
        .remove(&keypair_key(&user, &name))
        .ok_or_else(|| keypair_nf(&name, &user))?;
    Ok(empty(if ctx.mv.ge(2, 2) { 204 } else { 202 }))
}
