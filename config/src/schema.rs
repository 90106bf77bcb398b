//! The JSON Schema of the Router document, generated from the Rust types.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::document::{ROUTER_API_VERSION, ReconcileSpec};
use crate::registry::KINDS;

/// The schema of a config file for the kinds this build implements.
pub fn router_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let metadata = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["name"],
        "properties": {
            "name": {
                "type": "string",
                "minLength": 1,
                "maxLength": 63,
                "pattern": "^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?$"
            }
        }
    });
    let mut resource_metadata = metadata.clone();
    resource_metadata["properties"]["nodes"] = json!({
        "description": "Cluster nodes (RouterdCluster peers) the resource applies on; all when absent.",
        "type": "array",
        "minItems": 1,
        "uniqueItems": true,
        "items": { "type": "string" }
    });
    let resources: Vec<Value> = KINDS
        .iter()
        .map(|entry| {
            let spec = (entry.schema)(&mut generator);
            json!({
                "title": entry.kind,
                "type": "object",
                "additionalProperties": false,
                "required": ["apiVersion", "kind", "metadata"],
                "properties": {
                    "apiVersion": { "type": "string", "const": entry.api_version },
                    "kind": { "type": "string", "const": entry.kind },
                    "metadata": resource_metadata,
                    "spec": spec,
                    "status": { "type": "object", "additionalProperties": true }
                }
            })
        })
        .collect();
    let reconcile = generator.subschema_for::<ReconcileSpec>();
    let defs: serde_json::Map<String, Value> = generator.take_definitions(true);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://routerd.net/schemas/routerd-config-v1alpha1.schema.json",
        "title": "routerd Router configuration",
        "type": "object",
        "additionalProperties": false,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": { "type": "string", "const": ROUTER_API_VERSION },
            "kind": { "type": "string", "const": "Router" },
            "metadata": metadata,
            "spec": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "reconcile": reconcile,
                    "resources": { "type": "array", "items": { "oneOf": resources } }
                }
            }
        },
        "$defs": defs
    })
}
