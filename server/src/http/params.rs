//! Request parameters the otpgateway way: from the query string and from a urlencoded,
//! multipart or JSON body, merged (the body wins). Values keep their JSON type so that a
//! number or `true` sent where a string belongs is refused rather than coerced.

use super::envelope::ApiError;
use axum::{
    extract::{FromRequest, Multipart, Request},
    http::header,
};
use serde_json::{Map, Value};

/// Parameters of one request.
#[derive(Debug, Default)]
pub struct Params(Map<String, Value>);

const MAX_FIELDS: usize = 64;

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let mut params = Map::new();
        if let Some(query) = req.uri().query() {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
                .map_err(|_| ApiError::bad_request("Invalid query string."))?;
            params.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
        }
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(req, state)
                .await
                .map_err(|_| ApiError::bad_request("Invalid multipart body."))?;
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|_| ApiError::bad_request("Invalid multipart body."))?
            {
                let name = field.name().unwrap_or_default().to_owned();
                let value = field
                    .text()
                    .await
                    .map_err(|_| ApiError::bad_request("Invalid multipart body."))?;
                params.insert(name, Value::String(value));
            }
        } else {
            let body = axum::body::to_bytes(req.into_body(), 64 * 1024)
                .await
                .map_err(|_| {
                    ApiError::new(
                        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                        "Request body too large.",
                    )
                })?;
            if content_type.starts_with("application/json") {
                match serde_json::from_slice::<Value>(&body) {
                    Ok(Value::Object(map)) => params.extend(map),
                    _ => return Err(ApiError::bad_request("The body must be a JSON object.")),
                }
            } else if !body.is_empty() {
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                    .map_err(|_| ApiError::bad_request("Invalid form body."))?;
                params.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
            }
        }
        if params.len() > MAX_FIELDS {
            return Err(ApiError::bad_request("Too many parameters."));
        }
        Ok(Params(params))
    }
}

fn invalid(name: &str) -> ApiError {
    ApiError::bad_request(format!("Invalid `{name}` value."))
}

impl Params {
    /// A text parameter; absent and `null` are `None`; any other JSON type is refused.
    pub fn text(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(name)),
        }
    }

    /// A positive whole number, as text or as a JSON number; empty text counts as absent.
    pub fn positive(&self, name: &str) -> Result<Option<u64>, ApiError> {
        let n = match self.0.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.is_empty() => return Ok(None),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            Some(Value::Number(n)) => n.as_u64(),
            Some(_) => None,
        };
        match n {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(invalid(name)),
        }
    }

    /// A boolean flag: `true`/`1`/`yes` (text) or JSON `true`.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => match s.as_str() {
                "" | "false" | "0" | "no" => Ok(false),
                "true" | "1" | "yes" => Ok(true),
                _ => Err(invalid(name)),
            },
            Some(_) => Err(invalid(name)),
        }
    }

    /// A JSON value given as a JSON string (forms) or inline (JSON bodies).
    pub fn json(&self, name: &str) -> Result<Option<Value>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|e| ApiError::bad_request(format!("Invalid JSON in `{name}`: {e}."))),
            Some(v) => Ok(Some(v.clone())),
        }
    }
}
