"""Every error code the service answers with: its HTTP status(es) and what it means.

One table for the API, the proxy, the dashboard and the CLI (which print the same ``ApiError``). A test reads the
source and fails when a code is raised that is not here, with a status not listed here, or when an entry here is
raised nowhere any more; ``docs/error-codes.md`` shows ``markdown_table()`` and is checked against it.
"""

from __future__ import annotations

ERROR_CODES: dict[str, tuple[tuple[int, ...], str]] = {
    # --- keys and access ----------------------------------------------------------------------------------------
    "invalid_api_key": ((401,), "The key is missing, malformed, unknown, expired or revoked"),
    "invalid_api_key_kind": ((403,), "The route takes the other kind of key (application or organization)"),
    "forbidden": ((403,), "The caller may not do this (another application's object, a viewer's session)"),
    "too_many_failed_attempts": ((429,), "Too many failed keys or sign-ins from this source; wait `retry-after`"),
    "key_not_found": ((404,), "No such key in the organization"),
    "key_revoked": ((400,), "The key is revoked: it cannot be changed any more"),
    "invalid_key_slot": ((400,), "Key slots are 1 and 2"),
    "invalid_expiry": ((400,), "An expiry needs a time zone"),
    # --- request shape ------------------------------------------------------------------------------------------
    "invalid_json": ((400,), "The body (or a properties header) is not JSON, or is nested too deeply"),
    "invalid_request": ((400,), "A body field has the wrong type or is out of range"),
    "required_field_missing": ((400,), "A required body field is missing"),
    "invalid_value": ((400,), "The database refused a value (too long, out of range, a NUL character)"),
    "invalid_parameter": ((400,), "An unknown query parameter"),
    "invalid_cursor": ((400,), "The cursor is not one this server issued for this list"),
    "invalid_header": ((400,), "A header name or value holds characters HTTP does not allow"),
    "invalid_content_length": ((400,), "Content-Length is not a number"),
    "header_is_missing": ((400,), "A required header is missing (`xProxy-Provider-BaseUri` without a default)"),
    "request_too_large": ((413,), "The body is larger than the configured limit"),
    "request_header_fields_too_large": ((431,), "Too many headers, or one too long"),
    "request_processing_error": ((400, 503), "The request could not be processed or recorded (503: retry)"),
    "method_not_allowed": ((405,), "The route does not take this method"),
    "unsupported_media_type": ((415,), "The body's content type is not JSON"),
    "not_found": ((404,), "No such endpoint"),
    # --- server state -------------------------------------------------------------------------------------------
    "database_unavailable": ((503,), "The database is not reachable; retry later"),
    "unavailable": ((503,), "The feature is not available on this server"),
    "unexpected_error": ((500,), "A fault of the server (logged); never the caller's input"),
    # --- applications and deployments ---------------------------------------------------------------------------
    "application_not_found": ((404,), "No such application in the organization"),
    "application_already_exists": ((409,), "An application of that name exists"),
    "invalid_application_name": ((400,), "Application names are 1 to 200 characters"),
    "deployment_not_found": ((404,), "No such deployment mapping"),
    "invalid_deployment": ((400,), "Deployment names are 1 to 200 printable characters"),
    "too_many_deployments": ((400,), "The application has as many deployment mappings as it may hold"),
    # --- ingest and attribution ---------------------------------------------------------------------------------
    "too_many_events": ((400,), "A bulk ingest holds more events than allowed"),
    "invalid_ingest_event_timestamp": ((400,), "`event_timestamp` is more than 5 minutes in the future"),
    "invalid_units": ((400,), "`units` is not {unit: {input, output}} with whole counts"),
    "cost_out_of_range": ((400,), "The event's cost is above the largest a call may have (1e6 USD)"),
    "duplicate_request": ((409,), "The request was already recorded"),
    "invalid_properties": ((400,), "Properties are an object of names (1-200 characters) to text (up to 10000)"),
    "invalid_tags": ((400,), "Tags hold letters, digits, `_` and `-` only"),
    "invalid_limit_id": ((400,), "A limit id is at most 100 characters"),
    "invalid_limit_ids": ((400,), "Too many limit ids in one request"),
    "invalid_use_case_name": ((400,), "Use case names are 1 to 64 letters, digits, `.`, `-` and `_`"),
    "invalid_use_case_id": ((400,), "A use case id is at most 64 characters"),
    "invalid_use_case_version": ((400,), "A use case version is a whole number from 0 to 1000000"),
    "invalid_use_case_step": ((400,), "A use case step is at most 200 characters"),
    "invalid_user_id": ((400,), "A user id is at most 200 characters"),
    "invalid_account_name": ((400,), "An account name is at most 200 characters"),
    "invalid_resource_scope": ((400,), "A resource scope is at most 100 characters"),
    "invalid_price_as_category": ((400,), "`xProxy-PriceAs-Category` is at most 200 characters"),
    "invalid_price_as_resource": ((400,), "`xProxy-PriceAs-Resource` is at most 300 characters"),
    "invalid_instrumented_module": ((400,), "`xProxy-Instrumented-Module` is at most 200 characters"),
    # --- catalog and prices -------------------------------------------------------------------------------------
    "category_not_found": ((400, 404), "No such category (400: an event or header names it)"),
    "category_resource_not_found": ((404,), "No such resource (or resource version) in the category"),
    "resource_not_found": ((400,), "The model has no price in the category"),
    "resource_version_exists": ((409,), "A version of the resource starts at that time already"),
    "invalid_category": ((400,), "Bad category or resource name (`system.` is reserved)"),
    "invalid_unit_price": ((400,), "A unit price is a number from 0 to 10000 USD"),
    "invalid_price_file": ((400,), "The price file given to `prices sync --file` is malformed"),
    # --- limits -------------------------------------------------------------------------------------------------
    "limit_not_found": ((404,), "No such limit in the application"),
    "limit_name_already_exist": ((409,), "A limit of that name exists with another configuration"),
    "duplicate_limit_id": ((409,), "A limit with that id exists"),
    "create_limit_validation_failed": ((400,), "A new limit's configuration is invalid"),
    "update_limit_validation_failed": ((400,), "A limit change is invalid"),
    "invalid_max_limit": ((400,), "`max` is above 0 and at most 1e8 USD"),
    "invalid_max_limit_update": ((400,), "A new `max` may not be below what the limit has spent"),
    "invalid_reset_date": ((400,), "`resetDate` is malformed or in the future"),
    "invalid_timezone": ((400,), "Not an IANA time zone name"),
    "limit_reached": ((400,), "A block limit has no room left: the provider was not called"),
    "limit_estimate_unavailable": ((400,), "A strict limit cannot bound the call's cost, so it refuses it"),
    # --- use cases ----------------------------------------------------------------------------------------------
    "use_case_not_found": ((404,), "No such use case definition"),
    "use_case_already_exists": ((409,), "A use case of that name exists"),
    "use_case_instance_not_found": ((404,), "No such use case instance"),
    "invalid_use_case_description": ((400,), "A use case description is too long"),
    "kpi_not_found": ((404,), "No such KPI"),
    "kpi_already_exists": ((409,), "A KPI of that name exists"),
    "invalid_kpi_name": ((400,), "KPI names are 1 to 64 characters, without slashes or control characters"),
    "invalid_kpi_type": ((400,), "Not one of the KPI types"),
    "invalid_kpi_goal": ((400,), "A KPI goal is not a finite number"),
    "invalid_kpi_score": ((400,), "A KPI score does not fit its type"),
    # --- requests and reports -----------------------------------------------------------------------------------
    "request_not_found": ((404,), "No such recorded request in the application"),
    "invalid_range": ((400,), "The end is not after the start"),
    "range_too_large": ((400,), "The report covers more time than its bucket allows (hourly: 366 days)"),
    "invalid_bucket": ((400,), "Buckets are `hour`, `day`, `month` or `total`"),
    "invalid_dimension": ((400,), "Not a dimension reports group or filter by"),
    "unsupported_dimensions": ((400,), "These dimensions cannot be combined in one report or filter"),
    "invalid_filter": ((400,), "A filter value is malformed"),
    "invalid_top": ((400,), "`top` is out of range"),
    # --- proxy --------------------------------------------------------------------------------------------------
    "invalid_provider_uri": ((400,), "`xProxy-Provider-BaseUri` is not an absolute https URI without userinfo"),
    "invalid_provider_host": ((400,), "The provider host is not allowed, does not resolve, or is not public"),
    "provider_error": ((502, 504), "The provider could not be reached (502) or did not answer in time (504)"),
    # --- dashboard users, retention and erasure (CLI and dashboard) ---------------------------------------------
    "user_not_found": ((404,), "No such dashboard user"),
    "user_already_exists": ((409,), "A dashboard user with that email exists"),
    "invalid_email": ((400,), "Not an email address"),
    "invalid_password": ((400,), "A password is too short or too long"),
    "invalid_role": ((400,), "Roles are `admin` and `viewer`"),
    "last_admin": ((409,), "The organization's last admin cannot be removed or demoted"),
    "invalid_days": ((400,), "Retention days are not a whole number in range (or `default`)"),
    "nothing_to_change": ((400,), "Nothing to change was given"),
    "sweep_running": ((409,), "A retention sweep is running; try again later"),
    "invalid_identity": ((400,), "A user or account to erase is 1 to 200 characters"),
    # --- alerts (dashboard) -------------------------------------------------------------------------------------
    "invalid_endpoint": ((400,), "An alert endpoint needs a name, an http(s) URL and the format `json` or `slack`"),
    "endpoint_not_found": ((404,), "No such alert endpoint in the organization"),
}


def markdown_table() -> str:
    """The registry as the Markdown table ``docs/error-codes.md`` shows."""
    rows = ["| code | status | meaning |", "|---|---|---|"]
    for code, (statuses, meaning) in sorted(ERROR_CODES.items()):
        rows.append(f"| `{code}` | {', '.join(str(s) for s in statuses)} | {meaning} |")
    return "\n".join(rows) + "\n"
