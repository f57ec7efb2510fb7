//! `/compute/v2.1/os-keypairs`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use tricircle_pod_client::Microversion;
use tricircle_store::Keypair;

use super::NovaVersion;
use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::JsonBody;

fn view(k: &Keypair, mv: Microversion, detail: bool) -> Value {
    let mut v = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
    if mv >= Microversion::new(2, 2) {
        v["type"] = json!(k.key_type);
    }
    if detail {
        v["user_id"] = json!(k.user_id);
        v["created_at"] = json!(k.created_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string());
        v["deleted"] = json!(false);
        v["deleted_at"] = json!(null);
        v["updated_at"] = json!(null);
        v["id"] = json!(1);
    }
    v
}

pub async fn list(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
) -> ApiResult<Json<Value>> {
    let keys = s.app.keypair_list(&ctx).await?;
    Ok(Json(
        json!({"keypairs": keys.iter().map(|k| json!({"keypair": view(k, mv, false)})).collect::<Vec<_>>()}),
    ))
}

pub async fn show(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let k = s.app.keypair_get(&ctx, &name).await?;
    Ok(Json(json!({"keypair": view(&k, mv, true)})))
}

#[derive(Deserialize)]
pub struct CreateBody {
    keypair: CreateFields,
}

#[derive(Deserialize)]
pub struct CreateFields {
    name: String,
    public_key: Option<String>,
    #[serde(rename = "type")]
    key_type: Option<String>,
    user_id: Option<String>,
}

pub async fn create(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    JsonBody(b): JsonBody<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let k = b.keypair;
    let _ = k.user_id;
    let created =
        s.app.keypair_create(&ctx, &k.name, k.public_key.as_deref(), k.key_type.as_deref()).await?;
    let mut v = view(&created, mv, false);
    v["user_id"] = json!(created.user_id);
    // 201 since microversion 2.2, 200 before, as Nova.
    let status = if mv >= Microversion::new(2, 2) { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"keypair": v}))))
}

pub async fn delete(
    State(s): State<ApiState>,
    Caller(ctx): Caller,
    Extension(NovaVersion(mv)): Extension<NovaVersion>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.keypair_delete(&ctx, &name).await?;
    Ok(if mv >= Microversion::new(2, 2) { StatusCode::NO_CONTENT } else { StatusCode::ACCEPTED })
}
