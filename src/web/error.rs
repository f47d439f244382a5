//! One error type for the whole web layer, mapped to status codes from the lower layers'
//! errors (`RunsError`, `StoreError`). API requests get JSON, browsers an HTML page;
//! internal errors are logged and never leak their details.

use crate::config::{ConfigErrors, FieldError};
use crate::runs::RunsError;
use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("invalid config")]
    InvalidConfig(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unavailable(String),
    /// Stored data this version cannot read: a 500 that says which, so it can be deleted.
    #[error("{0}")]
    Unreadable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::InvalidConfig(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unreadable(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "internal error (see the server log)".into(),
            other => other.to_string(),
        }
    }

    /// The same error as an HTML page (for browser routes).
    pub fn into_html(self) -> Response {
        self.log();
        let status = self.status();
        let mut body = format!(
            "<!doctype html><meta charset=utf-8><title>{code}</title><link rel=stylesheet href=/static/app.css>\
             <main class=error><h1>{code}</h1><p>{msg}</p>",
            code = status,
            msg = html_escape(&self.public_message())
        );
        if let Self::InvalidConfig(errs) = &self {
            body.push_str("<ul>");
            for e in errs {
                body.push_str(&format!("<li><code>{}</code>: {}</li>", html_escape(&e.field), html_escape(&e.message)));
            }
            body.push_str("</ul>");
        }
        body.push_str("<p><a href=/>Back to runs</a></p></main>");
        (status, Html(body)).into_response()
    }

    fn log(&self) {
        if let Self::Internal(m) | Self::Unreadable(m) = self {
            tracing::error!("{m}");
        }
    }
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let body = match &self {
            Self::InvalidConfig(errs) => {
                serde_json::json!({ "error": "invalid config", "fields": errs })
            }
            other => serde_json::json!({ "error": other.public_message() }),
        };
        (status, Json(body)).into_response()
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        RunsError::from(e).into()
    }
}

impl From<RunsError> for AppError {
    fn from(e: RunsError) -> Self {
        match e {
            RunsError::NotFound(m) => Self::NotFound(m),
            RunsError::BadRequest(m) => Self::BadRequest(m),
            RunsError::InvalidConfig(f) => Self::InvalidConfig(f),
            RunsError::Conflict(m) => Self::Conflict(m),
            RunsError::Forbidden(m) => Self::Forbidden(m),
            RunsError::PayloadTooLarge(m) => Self::PayloadTooLarge(m),
            RunsError::Unreadable(m) => Self::Unreadable(m),
            RunsError::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<ConfigErrors> for AppError {
    fn from(e: ConfigErrors) -> Self {
        Self::InvalidConfig(e.0)
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound("file not found".into()),
            _ => Self::Internal(format!("io: {e}")),
        }
    }
}
