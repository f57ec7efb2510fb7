//! Glance's JSON-patch updates (`application/openstack-images-v2.1-json-patch`):
//! `add`, `replace` and `remove` on the image's fields and free properties.

use serde_json::{Map, Value};
use tricircle_common::{Error, Result};
use tricircle_store::Image;

const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "owner",
    "size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "created_at",
    "updated_at",
    "self",
    "file",
    "schema",
    "virtual_size",
    "direct_url",
    "locations",
];

pub fn apply(image: &mut Image, ops: &Value, admin: bool) -> Result<()> {
    let ops = ops
        .as_array()
        .ok_or_else(|| Error::bad_request("The JSON patch must be a list of operations."))?;
    let mut props: Map<String, Value> = serde_json::from_str(&image.properties).unwrap_or_default();
    for op in ops {
        let kind = op["op"].as_str().unwrap_or_default();
        let path = op["path"].as_str().unwrap_or_default();
        let field = path
            .strip_prefix('/')
            .filter(|f| !f.is_empty() && !f.contains('/'))
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "Invalid JSON pointer for this resource: '{}'",
                    tricircle_common::ids::truncate_for_message(path)
                ))
            })?;
        if READ_ONLY.contains(&field) {
            return Err(Error::forbidden(format!("Attribute '{field}' is read-only.")));
        }
        let value = op.get("value");
        match kind {
            "add" | "replace" => {
                let v = value.ok_or_else(|| {
                    Error::bad_request(format!("Operation {kind} needs a value."))
                })?;
                set(image, &mut props, field, v, admin)?;
            }
            "remove" => {
                if props.remove(field).is_none() {
                    return Err(Error::conflict(format!("Property {field} does not exist.")));
                }
            }
            other => {
                return Err(Error::bad_request(format!(
                    "Unsupported operation '{}': use add, replace or remove.",
                    tricircle_common::ids::truncate_for_message(other)
                )));
            }
        }
    }
    image.properties = Value::Object(props).to_string();
    Ok(())
}

fn set(
    image: &mut Image,
    props: &mut Map<String, Value>,
    field: &str,
    v: &Value,
    admin: bool,
) -> Result<()> {
    let string = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::bad_request(format!("{field} must be a string.")))
    };
    let int = |v: &Value| {
        v.as_i64()
            .filter(|n| *n >= 0)
            .ok_or_else(|| Error::bad_request(format!("{field} must be a non-negative integer.")))
    };
    match field {
        "name" => image.name = if v.is_null() { None } else { Some(string(v)?) },
        "visibility" => {
            let vis = string(v)?;
            if !super::VISIBILITIES.contains(&vis.as_str()) {
                return Err(Error::bad_request(format!("Invalid visibility value: {vis}")));
            }
            if vis == "public" && !admin {
                return Err(Error::forbidden("Only admins can publicize images."));
            }
            image.visibility = vis;
        }
        "disk_format" => image.disk_format = Some(string(v)?),
        "container_format" => image.container_format = Some(string(v)?),
        "min_disk" => image.min_disk = int(v)?,
        "min_ram" => image.min_ram = int(v)?,
        "protected" => {
            image.protected =
                v.as_bool().ok_or_else(|| Error::bad_request("protected must be a boolean."))?
        }
        "tags" => {
            let tags: Vec<String> = serde_json::from_value(v.clone())
                .map_err(|_| Error::bad_request("tags must be a list of strings."))?;
            image.tags = serde_json::to_string(&tags).unwrap_or_default();
        }
        _ => {
            props.insert(field.to_string(), Value::String(string(v)?));
        }
    }
    Ok(())
}
