//! The OpenAPI 3.1 document of `stratovec serve`, served at `/v1/openapi.json`. Written
//! next to the handlers it describes; `tests/server.rs` checks every route is in it.

use serde_json::{json, Value};

fn error_responses() -> Value {
    json!({
        "400": {"$ref": "#/components/responses/Error"},
        "401": {"$ref": "#/components/responses/Error"},
        "403": {"$ref": "#/components/responses/Error"},
        "429": {"$ref": "#/components/responses/Error"},
        "503": {"$ref": "#/components/responses/Error"}
    })
}

fn op(summary: &str, request: Option<&str>, response: &str) -> Value {
    let mut responses = error_responses();
    responses["200"] =
        json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{response}")}}}});
    let mut o = json!({"summary": summary, "security": [{"apiKey": []}, {"bearer": []}], "responses": responses});
    if let Some(r) = request {
        o["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{r}")}}}});
    }
    o
}

/// The document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "stratovec serve", "version": env!("CARGO_PKG_VERSION"),
                 "description": "An embedded vector database over HTTP. Errors are {kind, message} with the status of the error kind."},
        "paths": {
            "/v1/records": {"put": op("Upsert records", Some("UpsertRequest"), "UpsertResponse")},
            "/v1/records/{id}": {"get": {
                "summary": "A live record with its vector, metadata and payload",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "uint64"}}],
                "security": [{"apiKey": []}, {"bearer": []}],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Record"}}}},
                              "404": {"$ref": "#/components/responses/Error"}}
            }},
            "/v1/search": {"post": op("k nearest live records", Some("SearchRequest"), "SearchResponse")},
            "/v1/search/batch": {"post": op("Several searches in parallel", Some("BatchSearchRequest"), "BatchSearchResponse")},
            "/v1/delete": {"post": op("Delete by keys or by filter", Some("DeleteRequest"), "DeleteResponse")},
            "/v1/commit": {"post": op("Commit the memtable into a segment", None, "CommitResponse")},
            "/v1/compact": {"post": op("Merge segments by the compaction policy", None, "CompactResponse")},
            "/v1/stats": {"get": op("Statistics and health (stratovec stats --json)", None, "Stats")},
            "/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OK"}}}},
            "/healthz": {"get": {"summary": "Liveness: the process is up", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "Readiness: open, not Unhealthy, a replica caught up",
                                "responses": {"200": {"description": "ready"}, "503": {"description": "not ready; the body is the health"}}}},
            "/metrics": {"get": {"summary": "Prometheus text exposition", "responses": {"200": {"description": "OK"}}}}
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "api-key"},
                "bearer": {"type": "http", "scheme": "bearer"}
            },
            "responses": {
                "Error": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["kind", "message"], "properties": {
                    "kind": {"type": "string", "examples": ["invalid_argument", "not_found", "resource_exhausted", "unauthenticated"]},
                    "message": {"type": "string"}}},
                "Metadata": {"type": "object", "additionalProperties": {"oneOf": [
                    {"type": ["string", "number", "boolean", "null"]},
                    {"type": "array", "items": {"type": ["string", "number", "boolean", "null"]}}]}},
                "Record": {"type": "object", "required": ["id"], "properties": {
                    "id": {"type": "integer", "format": "uint64"},
                    "vector": {"type": "array", "items": {"type": "number"}},
                    "metadata": {"$ref": "#/components/schemas/Metadata"},
                    "payload": {"type": "string", "contentEncoding": "base64"}}},
                "UpsertRequest": {"type": "object", "required": ["records"], "properties": {
                    "records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}}},
                "UpsertResponse": {"type": "object", "properties": {"upserted": {"type": "integer"}}},
                "SearchOptions": {"type": "object", "properties": {
                    "k": {"type": "integer", "default": 10, "minimum": 1, "maximum": 100000},
                    "ef": {"type": "integer", "description": "ef_search (HNSW) or L (DiskANN)"},
                    "filter": {"type": "string", "examples": ["genre = 'rock' and year >= 1990"]},
                    "include": {"type": "array", "items": {"enum": ["vector", "metadata", "payload"]}, "default": ["metadata"]},
                    "exact": {"type": "boolean", "default": false, "description": "brute force over every source (ground truth)"}}},
                "SearchRequest": {"allOf": [{"$ref": "#/components/schemas/SearchOptions"},
                    {"type": "object", "required": ["vector"], "properties": {"vector": {"type": "array", "items": {"type": "number"}}}}]},
                "Hit": {"allOf": [{"$ref": "#/components/schemas/Record"},
                    {"type": "object", "required": ["distance"], "properties": {"distance": {"type": "number"}}}]},
                "SearchResponse": {"type": "object", "properties": {"hits": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}}}},
                "BatchSearchRequest": {"allOf": [{"$ref": "#/components/schemas/SearchOptions"},
                    {"type": "object", "required": ["vectors"], "properties": {"vectors": {"type": "array", "maxItems": 10000,
                        "items": {"type": "array", "items": {"type": "number"}}}}}]},
                "BatchSearchResponse": {"type": "object", "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/SearchResponse"}}}},
                "DeleteRequest": {"type": "object", "properties": {
                    "ids": {"type": "array", "items": {"type": "integer", "format": "uint64"}},
                    "filter": {"type": "string"}}},
                "DeleteResponse": {"type": "object", "properties": {"deleted": {"type": "integer"}}},
                "CommitResponse": {"type": "object", "properties": {"version": {"type": "integer"}}},
                "CompactResponse": {"type": "object", "properties": {
                    "merges": {"type": "integer"}, "rows_in": {"type": "integer"}, "rows_out": {"type": "integer"}, "seconds": {"type": "number"}}},
                "Stats": {"type": "object", "description": "The object of stratovec stats --json"}
            }
        }
    })
}
