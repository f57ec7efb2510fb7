//! Glance's discovery documents: import methods and the image schemas (glanceclient-style
//! clients fetch them before creating images).

use serde_json::{Value, json};

use crate::http::{ApiResult, Ctx, json_resp};

pub async fn import_info(_ctx: Ctx) -> ApiResult {
    Ok(json_resp(
        200,
        json!({"import-methods": {"description": "Import methods available.", "type": "array", "value": ["glance-direct"]}}),
    ))
}

fn schema_props() -> Value {
    let s = |t: &str| json!({"type": t});
    json!({
        "id": s("string"), "name": {"type": ["null", "string"]}, "status": s("string"),
        "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"]},
        "protected": s("boolean"), "os_hidden": s("boolean"), "checksum": {"type": ["null", "string"]},
        "os_hash_algo": {"type": ["null", "string"]}, "os_hash_value": {"type": ["null", "string"]},
        "owner": {"type": ["null", "string"]}, "size": {"type": ["null", "integer"]},
        "virtual_size": {"type": ["null", "integer"]}, "min_ram": s("integer"), "min_disk": s("integer"),
        "container_format": {"type": ["null", "string"], "enum": [null, "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]},
        "disk_format": {"type": ["null", "string"], "enum": [null, "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]},
        "created_at": s("string"), "updated_at": s("string"), "tags": {"type": "array", "items": s("string")},
        "self": s("string"), "file": s("string"), "schema": s("string"),
    })
}

pub async fn schema_image(_ctx: Ctx) -> ApiResult {
    Ok(json_resp(
        200,
        json!({"name": "image", "properties": schema_props(), "additionalProperties": {"type": "string"},
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"}, {"rel": "describedby", "href": "{schema}"}]}),
    ))
}

pub async fn schema_images(_ctx: Ctx) -> ApiResult {
    Ok(json_resp(
        200,
        json!({"name": "images", "properties": {
        "images": {"type": "array", "items": {"name": "image", "properties": schema_props(), "additionalProperties": {"type": "string"}}},
        "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"}, {"rel": "describedby", "href": "{schema}"}]}),
    ))
}
