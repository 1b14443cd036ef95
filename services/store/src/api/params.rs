//! Request parameters as Prometheus' HTTP API reads them.
//!
//! Parameters come from the query string and, for POST, from a form-encoded body; both are
//! merged like Go's `r.FormValue`. Times are Unix seconds with decimals or RFC 3339;
//! durations are seconds with decimals or PromQL durations (`15s`, `1h30m`).

use super::error::ApiError;

/// Decoded form parameters in request order; names may repeat (`match[]`).
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Merges the query string and, when given, a form-encoded body (body values first, as
    /// Go's `ParseForm` orders them).
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Params {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(body) = form_body {
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        if let Some(query) = query {
            pairs.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
        }
        Params(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A required parameter, or Prometheus' error for its absence.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::BadData(format!("invalid parameter \"{name}\": missing")))
    }

    /// An optional time parameter in milliseconds.
    pub fn time_ms(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(raw) => parse_time_ms(raw).map(Some).map_err(|reason| {
                ApiError::BadData(format!("invalid parameter \"{name}\": {reason}"))
            }),
        }
    }
}

/// Parses a time as Unix seconds (decimals allowed, rounded to ms) or RFC 3339.
pub fn parse_time_ms(raw: &str) -> Result<i64, String> {
    if let Ok(seconds) = raw.parse::<f64>() {
        if !seconds.is_finite() || seconds.abs() > 9.2e15 {
            return Err(format!("cannot parse {raw:?} to a valid timestamp"));
        }
        let whole = seconds.trunc();
        let millis = ((seconds - whole) * 1000.0).round();
        return Ok(whole as i64 * 1000 + millis as i64);
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("cannot parse {raw:?} to a valid timestamp"))
}

/// Parses a duration as seconds (decimals allowed) or a PromQL duration, in milliseconds.
pub fn parse_duration_ms(raw: &str) -> Result<i64, String> {
    if let Ok(seconds) = raw.parse::<f64>() {
        let millis = seconds * 1000.0;
        if !millis.is_finite() || millis.abs() >= i64::MAX as f64 {
            return Err(format!(
                "cannot parse {raw:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(millis.round() as i64);
    }
    tachyscale_promql::parse_duration(raw)
        .map_err(|_| format!("cannot parse {raw:?} to a valid duration"))
}

/// Largest form-encoded POST body a query endpoint reads; PromQL text is small.
pub const MAX_FORM_BODY_BYTES: usize = 1 << 20;

impl<S: Send + Sync> axum::extract::FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, _state: &S) -> Result<Self, ApiError> {
        let query = req.uri().query().map(str::to_owned);
        let is_form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let body = if req.method() == axum::http::Method::POST && is_form {
            let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BODY_BYTES)
                .await
                .map_err(|_| {
                    ApiError::BadData(format!(
                        "form body is larger than {MAX_FORM_BODY_BYTES} bytes or unreadable"
                    ))
                })?;
            Some(bytes)
        } else {
            None
        };
        Ok(Params::parse(query.as_deref(), body.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_accept_float_seconds_and_rfc3339() {
        assert_eq!(parse_time_ms("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time_ms("1435781451"), Ok(1_435_781_451_000));
        assert_eq!(
            parse_time_ms("2015-07-01T20:10:51.781Z"),
            Ok(1_435_781_451_781)
        );
        assert!(parse_time_ms("yesterday").is_err());
    }

    #[test]
    fn durations_accept_seconds_and_promql_units() {
        assert_eq!(parse_duration_ms("15"), Ok(15_000));
        assert_eq!(parse_duration_ms("0.5"), Ok(500));
        assert_eq!(parse_duration_ms("1m30s"), Ok(90_000));
        assert!(parse_duration_ms("1x").is_err());
    }

    #[test]
    fn repeated_parameters_are_all_kept() {
        let p = Params::parse(Some("match[]=a&match[]=b&start=1"), Some(b"match[]=c"));
        assert_eq!(p.all("match[]"), vec!["c", "a", "b"]);
        assert_eq!(p.get("start"), Some("1"));
    }
}
