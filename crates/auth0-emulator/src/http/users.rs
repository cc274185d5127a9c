//! `GET /api/v2/users` (search), `GET`, `PATCH` and `DELETE /api/v2/users/{id}`,
//! `GET /api/v2/users-by-email`.

use super::errors::{self, api_error, invalid_query, query_validation};
use super::params::Params;
use crate::lucene;
use crate::state::Emulator;
use crate::store::{first_connection, SortSpec};
use crate::user_patch;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

const PER_PAGE_DEFAULT: i64 = 50;
const SEARCH_CAP: i64 = 1000;

pub async fn list(State(emu): State<Emulator>, RawQuery(raw): RawQuery) -> Response {
    match list_inner(&emu, &Params::parse(raw.as_deref())) {
        Ok(r) | Err(r) => r,
    }
}

fn list_inner(emu: &Emulator, p: &Params) -> Result<Response, Response> {
    let page = p
        .int(
            "page",
            0,
            None,
            "Page index of the results to return. First page is 0.",
        )?
        .unwrap_or(0);
    let per_page = p
        .int("per_page", 0, Some(100), "Number of results per page.")?
        .unwrap_or(PER_PAGE_DEFAULT);
    let include_totals = p
        .bool(
            "include_totals",
            "Return results inside an object that contains the total result count (true) or as a direct array of results (false, default).",
        )?
        .unwrap_or(false);
    match p.get("search_engine") {
        None | Some("v3") => {}
        Some("v1") => {
            return Err(invalid_query(
                "You are not allowed to use search_engine=v1.".into(),
            ))
        }
        Some("v2") => {
            return Err(invalid_query(
                "You are not allowed to use search_engine=v2. Use search_engine=v3 instead.".into(),
            ))
        }
        Some(other) => {
            return Err(query_validation(
                &format!("No enum match for: {other}"),
                "search_engine",
                "The version of the search engine",
            ))
        }
    }
    let sort = match p.get("sort") {
        None | Some("") => None,
        Some(s) => Some(parse_sort(s)?),
    };
    let (fields, include_fields) = p.fields()?;
    let query = match p.get("q") {
        None => None,
        Some(q) => lucene::parse(q).map_err(|e| invalid_query(format!("Invalid query: {e}")))?,
    };
    if (page + 1) * per_page > SEARCH_CAP {
        return Err(errors::invalid_paging());
    }

    let hits = emu.lock().users.search(query.as_ref(), sort.as_ref());
    let total = hits.len();
    let start = (page * per_page) as usize;
    let users: Vec<Value> = hits
        .iter()
        .skip(start)
        .take(per_page as usize)
        .map(|u| u.project(&fields, include_fields))
        .collect();
    Ok(if include_totals {
        Json(json!({"start": start, "limit": per_page, "length": users.len(), "users": users, "total": total}))
            .into_response()
    } else {
        Json(Value::Array(users)).into_response()
    })
}

fn parse_sort(s: &str) -> Result<SortSpec, Response> {
    let description = "Field to sort by. Use field:order where order is 1 for ascending and -1 for descending. e.g. created_at:1";
    let (field, order) = s.rsplit_once(':').ok_or_else(|| {
        query_validation(
            "String does not match pattern ^(([a-zA-Z\\-_0-9.]+))\\:(1|-1)$",
            "sort",
            description,
        )
    })?;
    let descending = match order {
        "1" => false,
        "-1" => true,
        _ => {
            return Err(query_validation(
                "String does not match pattern ^(([a-zA-Z\\-_0-9.]+))\\:(1|-1)$",
                "sort",
                description,
            ))
        }
    };
    if field.starts_with("app_metadata") || field.starts_with("user_metadata") {
        return Err(invalid_query(
            "Sorting by app_metadata or user_metadata is not supported.".into(),
        ));
    }
    Ok(SortSpec {
        field: field.to_string(),
        descending,
    })
}

pub async fn get_one(
    State(emu): State<Emulator>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let p = Params::parse(raw.as_deref());
    let (fields, include) = match p.fields() {
        Ok(f) => f,
        Err(r) => return r,
    };
    let st = emu.lock();
    match st.users.get(&id) {
        Some(u) => Json(u.project(&fields, include)).into_response(),
        None => errors::user_not_found(),
    }
}

/// `PATCH /api/v2/users/{id}`: 200 with the whole user after the change (as recorded); the
/// rules are in `user_patch.rs`.
pub async fn patch_one(
    State(emu): State<Emulator>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let bad = |message: &str| api_error(StatusCode::BAD_REQUEST, message, Some("invalid_body"));
    // The wording for a body that is not JSON is UNCONFIRMED.
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return bad("Invalid request payload JSON format");
    };
    let patch = match user_patch::validate(&value) {
        Ok(p) => p,
        Err(message) => return bad(&message),
    };
    let mut st = emu.lock();
    let now = crate::time::format_ms(st.now_ms());
    let Some(current) = st.users.get(&id) else {
        return errors::user_not_found();
    };
    // Another user of the same connection with the new e-mail (compared ignoring case, as
    // imports do): refused (wording UNCONFIRMED).
    if let Some(Value::String(email)) = patch.get("email") {
        let connection = first_connection(&current.doc);
        let taken = st.users.all().iter().any(|u| {
            u.user_id != id
                && first_connection(&u.doc) == connection
                && u.email().is_some_and(|e| e.eq_ignore_ascii_case(email))
        });
        if taken {
            return api_error(
                StatusCode::BAD_REQUEST,
                "The specified new email already exists",
                Some("auth0_idp_error"),
            );
        }
    }
    let mut user = (**current).clone();
    user_patch::apply(&mut user.doc, patch, &now);
    let body = Value::Object(user.doc.clone());
    st.users.upsert(user);
    Json(body).into_response()
}

/// `DELETE /api/v2/users/{id}`: 204, also when the user is already gone (as recorded).
pub async fn delete_one(State(emu): State<Emulator>, Path(id): Path<String>) -> Response {
    emu.lock().users.remove(&id);
    StatusCode::NO_CONTENT.into_response()
}

pub async fn by_email(State(emu): State<Emulator>, RawQuery(raw): RawQuery) -> Response {
    let p = Params::parse(raw.as_deref());
    let description = "Email address to search for (case-sensitive).";
    let Some(email) = p.get("email") else {
        return query_validation("Missing required property: email", "email", description);
    };
    if !auth0_rules::is_email(email) {
        return query_validation(
            &format!("Object didn't pass validation for format email: {email}"),
            "email",
            description,
        );
    }
    let (fields, include) = match p.fields() {
        Ok(f) => f,
        Err(r) => return r,
    };
    let st = emu.lock();
    let found: Vec<Value> = st
        .users
        .by_email(email)
        .iter()
        .map(|u| u.project(&fields, include))
        .collect();
    Json(Value::Array(found)).into_response()
}

pub async fn not_found_route() -> Response {
    api_error(StatusCode::NOT_FOUND, "Not Found", None)
}
