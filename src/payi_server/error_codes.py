"""Every error code the service answers with: its HTTP status(es), what it means, and its messages.

One table for the API, the proxy, the dashboard and the CLI (which print the same ``ApiError``). Each entry is
``code: (statuses, meaning, messages)``; ``messages`` maps a variant name (``""``: the usual one) to a template whose
``{placeholders}`` name the fields and values it shows. Raise sites never write a message: they call
``errors.api_error(code, variant, **fields)``, which looks the template up here (a dict lookup and a
``str.format``, on the error path only).

A test reads the source and fails when a code is raised that is not here, with a status not listed here, when an
entry here is raised nowhere any more, when a raise site carries a message of its own, or names a variant or
fields a template does not have; ``docs/error-codes.md`` shows ``markdown_table()`` and ``markdown_messages()``
and is checked against them.
"""

from __future__ import annotations

# Messages shared by codes raised at the same sites with one code or another (the limit checks serve creation and
# updates; ``check_text`` serves every attribution field).
_LIMIT_CONFIG = {
    "number": "'{field}' must be a number",
    "finite": "'{field}' must be a finite number",
    "name": "'limit_name' must be 1 to 200 characters, without control characters",
    "property_name": "Property names must be 1 to 200 characters",
    "property_value": "Property '{key}' must be a string of at most 10000 characters",
    "properties": "A limit has at most {max_properties} properties",
    "enforcement": "'enforcement' must be 'default' or 'strict'",
    "limit_type": "'limit_type' must be 'block' or 'allow'",
    "threshold": "'threshold' must be between 0.75 and 0.99",
    "enforcement_conflict": "'enforcement' and the 'enforcement' property disagree",
    "period": "'period' must be 'day', 'week' or 'month'",
    "timezone_without_period": "'timezone' applies only to periodic limits (set 'period')",
    "timezone": "'timezone' must be an IANA time zone name, e.g. 'Europe/Paris'",
    "limit_id": "'limit_id' must be 1 to 100 characters: letters, digits and . _ : @ ~ + = -",
    "fields": "{errors}",
}
_TOO_LONG = {"": "'{what}' is at most {limit} characters"}

ERROR_CODES: dict[str, tuple[tuple[int, ...], str, dict[str, str]]] = {
    # --- keys and access ----------------------------------------------------------------------------------------
    "invalid_api_key": (
        (401,), "The key is missing, malformed, unknown, expired or revoked",
        {"": "Your api key is invalid, missing, or expired"},
    ),
    "invalid_api_key_kind": (
        (403,), "The route takes the other kind of key (application or organization)",
        {"": "This operation requires {wanted}"},
    ),
    "forbidden": (
        (403,), "The caller may not do this (another application's object, a viewer's session)",
        {"": "You may not do this"},
    ),
    "too_many_failed_attempts": (
        (429,), "Too many failed keys or sign-ins from this source; wait `retry-after`",
        {"": "Too many failed attempts from this address; try again later"},
    ),
    "key_not_found": (
        (404,), "No such key in the organization",
        {"": "Key '{key_id}' not found", "id": "{what} not found"},
    ),
    "key_revoked": ((400,), "The key is revoked: it cannot be changed any more", {"": "Key '{key_id}' is revoked"}),
    "invalid_key_slot": ((400,), "Key slots are 1 and 2", {"": "Key slot must be 1 or 2"}),
    "invalid_expiry": ((400,), "An expiry needs a time zone", {"": "expires_at must include a time zone"}),
    # --- request shape ------------------------------------------------------------------------------------------
    "invalid_json": (
        (400,), "The body (or a properties header) is not JSON, or is nested too deeply",
        {
            "": "Body JSON is invalid (or nested too deeply)",
            "bulk": "The body must be a JSON array of events",
            "fields": "Body JSON is invalid",
            "header": "Header '{header}' is not valid JSON (or nested too deeply)",
            "header_encoding": "Header '{header}' is neither JSON nor base64 JSON",
        },
    ),
    "invalid_request": (
        (400,), "A body field has the wrong type or is out of range",
        {
            "": "Request is invalid",
            "count": "'{name}' must be a non-negative integer",
            "fields": "{errors}",
            "nul_query": "The query string holds a NUL character",
        },
    ),
    "required_field_missing": (
        (400,), "A required body field is missing",
        {"": "A JSON body with 'category' and 'units' is required", "fields": "{errors}"},
    ),
    "invalid_value": (
        (400,), "The database refused a value (too long, out of range, a NUL character)",
        {"": "A value is too long, out of range or holds characters that cannot be stored (such as NUL)"},
    ),
    "invalid_parameter": ((400,), "An unknown query parameter", {"": "Unknown parameter '{name}'"}),
    "invalid_cursor": (
        (400,), "The cursor is not one this server issued for this list",
        {"": "The cursor is not one this server issued for this list"},
    ),
    "invalid_header": (
        (400,), "A header name or value holds characters HTTP does not allow",
        {"": "A header name or value holds invalid characters"},
    ),
    "invalid_content_length": ((400,), "Content-Length is not a number", {"": "Content-Length is not a number"}),
    "header_is_missing": (
        (400,), "A required header is missing (`xProxy-Provider-BaseUri` without a default)",
        {"": "Required header 'xProxy-Provider-BaseUri' is missing"},
    ),
    "request_too_large": (
        (413,), "The body is larger than the configured limit",
        {"": "Request body exceeds the limit of {limit} bytes", "framework": "{detail}"},
    ),
    "request_header_fields_too_large": (
        (431,), "Too many headers, or one too long",
        {"": "At most {max_headers} headers of {max_header_bytes} bytes in all"},
    ),
    "request_processing_error": (
        (400, 503), "The request could not be processed or recorded (503: retry)",
        {
            "": "The request could not be recorded",
            "framework": "{detail}",
            "unknown": "Request could not be processed",
        },
    ),
    "method_not_allowed": ((405,), "The route does not take this method", {"framework": "{detail}"}),
    "unsupported_media_type": ((415,), "The body's content type is not JSON", {"framework": "{detail}"}),
    "not_found": (
        (404,), "No such endpoint",
        {
            "": "No such endpoint",
            "framework": "{detail}",
            "metrics": "Metrics are turned off on this server",
            "provider": "No proxy route for this provider",
            "proxy_path": "No such proxy path",
        },
    ),
    # --- server state -------------------------------------------------------------------------------------------
    "database_unavailable": (
        (503,), "The database is not reachable; retry later",
        {"": "The database is not reachable; retry later", "health": "The database is not reachable"},
    ),
    "unavailable": ((503,), "The feature is not available on this server", {"": "retention is not available"}),
    "unexpected_error": (
        (500,), "A fault of the server (logged); never the caller's input",
        {"": "An unexpected error occurred", "batch": "not recorded", "ingest": "The event was not recorded"},
    ),
    # --- applications and deployments ---------------------------------------------------------------------------
    "application_not_found": (
        (404,), "No such application in the organization",
        {"": "Application '{app_id}' not found", "id": "{what} not found", "scope": "Application not found"},
    ),
    "application_already_exists": (
        (409,), "An application of that name exists",
        {"": "Application '{name}' already exists"},
    ),
    "invalid_application_name": (
        (400,), "Application names are 1 to 200 characters",
        {"": "Application name must be 1 to 200 characters"},
    ),
    "deployment_not_found": ((404,), "No such deployment mapping", {"": "Deployment '{deployment}' not found"}),
    "invalid_deployment": (
        (400,), "Deployment names are 1 to 200 printable characters",
        {"": "A deployment name is 1 to {name_max} printable characters"},
    ),
    "too_many_deployments": (
        (400,), "The application has as many deployment mappings as it may hold",
        {"": "An application holds at most {per_application_max} deployments"},
    ),
    # --- ingest and attribution ---------------------------------------------------------------------------------
    "too_many_events": (
        (400,), "A bulk ingest holds more events than allowed",
        {"": "At most {max_bulk_items} events per bulk request"},
    ),
    "invalid_ingest_event_timestamp": (
        (400,), "`event_timestamp` is more than 5 minutes in the future",
        {"": "event_timestamp may not be more than 5 minutes in the future"},
    ),
    "invalid_units": (
        (400,), "`units` is not {unit: {input, output}} with whole counts",
        {
            "": "Unit names are at most 100 characters",
            "price": "unit '{name}' must be an object with input_price/output_price",
            "price_name": "unit names are 1 to 100 characters",
            "prices": "'units' must be an object of {{unit: {{input_price, output_price}}}}",
            "pricing": "{reason}",
        },
    ),
    "cost_out_of_range": (
        (400,), "The event's cost is above the largest a call may have (1e6 USD)",
        {"": "The event's cost is above {max_request_cost} USD"},
    ),
    "duplicate_request": ((409,), "The request was already recorded", {"": "The request was already recorded"}),
    "invalid_properties": (
        (400,), "Properties are an object of names (1-200 characters) to text (up to 10000)",
        {
            "": "'{where}' must be a JSON object",
            "instance": "Property names are 1 to 200 characters, values at most 10000",
            "instance_count": "An instance has at most {max_properties} properties",
            "name": "'{where}': property names are 1 to 200 characters",
            "value": "'{where}': property values are at most 10000 characters",
        },
    ),
    "invalid_tags": (
        (400,), "Tags hold letters, digits, `_` and `-` only",
        {
            "": "Tags may contain only alphanumeric, underscore (_) and dash (-)",
            "limit": "At most {max_tags} tags: letters, digits, '_' and '-' only",
        },
    ),
    "invalid_limit_id": ((400,), "A limit id is at most 100 characters", {"": "A limit id is at most 100 characters"}),
    "invalid_limit_ids": (
        (400,), "Too many limit ids in one request",
        {
            "": "Some or all of passed limit-ids either do not exist or they are not related to the Application",
            "named": "Some or all of passed limit-ids either do not exist or they are not related to the Application: {bad}",
            "too_many": "At most {max_limit_ids} limit ids may be given",
        },
    ),
    "invalid_use_case_name": (
        (400,), "Use case names are 1 to 64 letters, digits, `.`, `-` and `_`",
        {"": "Use case names are 1 to 64 characters: letters, digits, '.', '-' and '_' only"},
    ),
    "invalid_use_case_id": ((400,), "A use case id is at most 64 characters", _TOO_LONG),
    "invalid_use_case_version": (
        (400,), "A use case version is a whole number from 0 to 1000000",
        {"": "xProxy-UseCase-Version must be an integer", "range": "xProxy-UseCase-Version is out of range"},
    ),
    "invalid_use_case_step": ((400,), "A use case step is at most 200 characters", _TOO_LONG),
    "invalid_user_id": ((400,), "A user id is at most 200 characters", _TOO_LONG),
    "invalid_account_name": ((400,), "An account name is at most 200 characters", _TOO_LONG),
    "invalid_resource_scope": ((400,), "A resource scope is at most 100 characters", _TOO_LONG),
    "invalid_price_as_category": ((400,), "`xProxy-PriceAs-Category` is at most 200 characters", _TOO_LONG),
    "invalid_price_as_resource": ((400,), "`xProxy-PriceAs-Resource` is at most 300 characters", _TOO_LONG),
    "invalid_instrumented_module": ((400,), "`xProxy-Instrumented-Module` is at most 200 characters", _TOO_LONG),
    # --- catalog and prices -------------------------------------------------------------------------------------
    "category_not_found": (
        (400, 404), "No such category (400: an event or header names it)",
        {"": "Category '{category}' not found", "plain": "Not found"},
    ),
    "category_resource_not_found": (
        (404,), "No such resource (or resource version) in the category",
        {
            "": "Category '{category}' and resource '{resource}' not found",
            "plain": "Not found",
            "version": "Resource version '{resource_id}' not found",
            "version_id": "Resource version not found",
        },
    ),
    "resource_not_found": (
        (400,), "The model has no price in the category",
        {
            "": "'{model}' has no price in category '{category}'",
            "deployment": "Resource '{model}' has no price in category '{category}': map the deployment to a priced model (or add a custom price first)",
        },
    ),
    "resource_version_exists": (
        (409,), "A version of the resource starts at that time already",
        {"": "A version with this start_timestamp already exists"},
    ),
    "invalid_category": (
        (400,), "Bad category or resource name (`system.` is reserved)",
        {
            "": "Category names are 1 to 200 characters, resources 1 to 300",
            "delete_managed": "Managed 'system.' categories cannot be deleted",
            "reserved": "The 'system.' prefix is reserved for managed categories; choose another name",
        },
    ),
    "invalid_unit_price": (
        (400,), "A unit price is a number from 0 to 10000 USD",
        {
            "": "{where} must be a number",
            "negative": "{where} must be a non-negative number",
            "too_large": "{where} must be at most {max_unit_price} USD per unit",
        },
    ),
    "invalid_price_file": (
        (400,), "The price file given to `prices sync --file` is malformed",
        {
            "": "expected {{\"resources\": [...]}} or a non-empty list",
            "category": "{where}.category must be a managed 'system.' category (custom prices: /api/v1/categories)",
            "count": "{where} must be a non-negative integer",
            "names": "{where} must be a list of names",
            "object": "{where} must be an object",
            "resource": "{where}.resource must be a name of 1 to 300 characters",
            "timestamp": "{where}.start_timestamp is not ISO-8601",
            "timestamp_zone": "{where}.start_timestamp needs a time zone",
            "unreadable": "cannot read {name}: {error}",
        },
    ),
    # --- limits -------------------------------------------------------------------------------------------------
    "limit_not_found": ((404,), "No such limit in the application", {"": "Limit Id '{limit_id}' not found"}),
    "limit_name_already_exist": (
        (409,), "A limit of that name exists with another configuration",
        {
            "": "A limit named '{name}' already exists",
            "concurrent": "The limit was created concurrently",
            "config": "A limit named '{name}' already exists with a different configuration",
            "rename": "A limit with that name already exists",
        },
    ),
    "duplicate_limit_id": ((409,), "A limit with that id exists", {"": "Limit Id '{limit_id}' already exists"}),
    "create_limit_validation_failed": ((400,), "A new limit's configuration is invalid", _LIMIT_CONFIG),
    "update_limit_validation_failed": ((400,), "A limit change is invalid", _LIMIT_CONFIG),
    "invalid_max_limit": (
        (400,), "`max` is above 0 and at most 1e8 USD",
        {
            "finite": "'{field}' must be a finite number",
            "not_positive": "Max limit must be greater than 0",
            "number": "'{field}' must be a number",
            "too_large": "Max limit must be at most {max_max:f}",
        },
    ),
    "invalid_max_limit_update": (
        (400,), "A new `max` may not be below what the limit has spent",
        {"": "New Limit max value cannot less than the current spent of '{spent_total:f}'"},
    ),
    "invalid_reset_date": (
        (400,), "`resetDate` is malformed or in the future",
        {"": "resetDate cannot be in the future"},
    ),
    "invalid_timezone": (
        (400,), "Not an IANA time zone name",
        {"": "Unknown time zone; use an IANA name such as Europe/Paris"},
    ),
    "limit_reached": (
        (400,), "A block limit has no room left: the provider was not called",
        {"": "Insufficient limit for the requested operation"},
    ),
    "limit_estimate_unavailable": (
        (400,), "A strict limit cannot bound the call's cost, so it refuses it",
        {
            "": "The cost of a call to '{model}' cannot be bounded before it is made, so the strict limit(s) {limits} cannot admit it: name a priced model, map the deployment to one, or send xProxy-PriceAs-Resource",
        },
    ),
    # --- use cases ----------------------------------------------------------------------------------------------
    "use_case_not_found": ((404,), "No such use case definition", {"": "Use case '{name}' not found"}),
    "use_case_already_exists": ((409,), "A use case of that name exists", {"": "Use case '{name}' already exists"}),
    "use_case_instance_not_found": (
        (404,), "No such use case instance",
        {"": "Use case instance '{use_case_id}' not found"},
    ),
    "invalid_use_case_description": (
        (400,), "A use case description is too long",
        {"": "A description is at most {max_description} characters"},
    ),
    "kpi_not_found": (
        (404,), "No such KPI",
        {"": "KPI '{kpi_name}' not found", "instance": "KPI '{kpi_name}' is not defined for use case '{name}'"},
    ),
    "kpi_already_exists": ((409,), "A KPI of that name exists", {"": "KPI '{kpi_name}' already exists"}),
    "invalid_kpi_name": (
        (400,), "KPI names are 1 to 64 characters, without slashes or control characters",
        {"": "KPI names are 1 to 64 characters, without '/', '\\' or control characters"},
    ),
    "invalid_kpi_type": ((400,), "Not one of the KPI types", {"": "'kpi_type' must be one of: {kpi_types}"}),
    "invalid_kpi_goal": ((400,), "A KPI goal is not a finite number", {"": "'goal' must be a finite number"}),
    "invalid_kpi_score": (
        (400,), "A KPI score does not fit its type",
        {
            "": "A score must be a finite number",
            "boolean": "A boolean KPI's score is true/false (or 1/0)",
            "range": "A {kpi_type} KPI's score is between {low:g} and {high:g}",
        },
    ),
    # --- requests and reports -----------------------------------------------------------------------------------
    "request_not_found": ((404,), "No such recorded request in the application", {"": "Request not found"}),
    "invalid_range": (
        (400,), "The end is not after the start",
        {"": "'end' must be after 'start'", "dates": "Dates must be between 1970-01-01 and 2200-01-01"},
    ),
    "range_too_large": (
        (400,), "The report covers more time than its bucket allows (hourly: 366 days)",
        {"": "The range is too large for this bucket (hourly: at most 366 days)"},
    ),
    "invalid_bucket": (
        (400,), "Buckets are `hour`, `day`, `month` or `total`",
        {"": "'bucket' is one of hour, day, month, total"},
    ),
    "invalid_dimension": (
        (400,), "Not a dimension reports group or filter by",
        {
            "": "Unknown dimension; use one of: {dimensions} (property:<name>)",
            "property": "A property dimension is 'property:<name>', the name 1 to 200 characters",
            "twice": "A dimension appears twice in group_by",
        },
    ),
    "unsupported_dimensions": (
        (400,), "These dimensions cannot be combined in one report or filter",
        {
            "": "'limit' and 'property:<name>' combine only with 'application' (the rollups do not cross them with {others})",
            "latency": "Latency percentiles come from the hourly rollup: 'latency' does not combine with 'limit' or 'property:<name>'",
            "properties": "A report can use one request property at a time",
        },
    ),
    "invalid_filter": (
        (400,), "A filter value is malformed",
        {
            "request_log": "The request log is filtered by: {filters}",
            "too_many": "At most 1000 values per filter",
            "use_case_version": "'use_case_version' values are whole numbers",
        },
    ),
    "invalid_top": ((400,), "`top` is out of range", {"": "'top' must be 1 to {max_top}"}),
    # --- proxy --------------------------------------------------------------------------------------------------
    "invalid_provider_uri": (
        (400,), "`xProxy-Provider-BaseUri` is not an absolute https URI without userinfo",
        {
            "": "xProxy-Provider-BaseUri is not a valid URI",
            "host": "xProxy-Provider-BaseUri has an invalid host",
            "https": "xProxy-Provider-BaseUri must use https",
            "query": "xProxy-Provider-BaseUri may not carry a query or fragment",
            "relative": "xProxy-Provider-BaseUri must be an absolute http(s) URI",
        },
    ),
    "invalid_provider_host": (
        (400,), "The provider host is not allowed, does not resolve, or is not public",
        {
            "": "The provider host is not allowed by this server",
            "unresolved": "The provider host could not be resolved",
        },
    ),
    "provider_error": (
        (502, 504), "The provider could not be reached (502) or did not answer in time (504)",
        {
            "": "The downstream provider could not be reached",
            "cut_off": "The provider's response was cut off",
            "timeout": "The provider did not answer in time",
            "unresolved": "The provider's host could not be resolved",
        },
    ),
    # --- dashboard users, retention and erasure (CLI and dashboard) ---------------------------------------------
    "user_not_found": ((404,), "No such dashboard user", {"": "No such user"}),
    "user_already_exists": ((409,), "A dashboard user with that email exists", {"": "A user with this email exists"}),
    "invalid_email": ((400,), "Not an email address", {"": "Give an email address such as ops@example.com"}),
    "invalid_password": (
        (400,), "A password is too short or too long",
        {"": "Passwords are {min_password} to 1024 characters"},
    ),
    "invalid_role": ((400,), "Roles are `admin` and `viewer`", {"": "The role is admin or viewer"}),
    "last_admin": (
        (409,), "The organization's last admin cannot be removed or demoted",
        {"": "This is the organisation's last admin: make another user admin first"},
    ),
    "invalid_days": (
        (400,), "Retention days are not a whole number in range (or `default`)",
        {"": "--{option}: {help}"},
    ),
    "nothing_to_change": ((400,), "Nothing to change was given", {"": "give --requests and/or --payloads"}),
    "sweep_running": (
        (409,), "A retention sweep is running; try again later",
        {"": "a server process is sweeping right now; try again later"},
    ),
    "invalid_identity": (
        (400,), "A user or account to erase is 1 to 200 characters",
        {"": "the user or account is 1 to 200 characters"},
    ),
    # --- alerts (dashboard) -------------------------------------------------------------------------------------
    "invalid_endpoint": (
        (400,), "An alert endpoint needs a name, an http(s) URL and the format `json` or `slack`",
        {
            "format": "The format is json or slack",
            "name": "Give the endpoint a name of at most 200 characters",
            "url": "The endpoint is an http:// or https:// URL of at most 2000 characters",
        },
    ),
    "endpoint_not_found": ((404,), "No such alert endpoint in the organization", {"": "There is no such endpoint"}),
}


def message(code: str, variant: str = "", /, **fields: object) -> str:
    """The ``variant`` message of ``code``, its placeholders filled from ``fields``."""
    return ERROR_CODES[code][2][variant].format(**fields)


def markdown_table() -> str:
    """The registry as the Markdown table ``docs/error-codes.md`` shows."""
    rows = ["| code | status | meaning |", "|---|---|---|"]
    for code, (statuses, meaning, _messages) in sorted(ERROR_CODES.items()):
        rows.append(f"| `{code}` | {', '.join(str(s) for s in statuses)} | {meaning} |")
    return "\n".join(rows) + "\n"


def markdown_messages() -> str:
    """Every code's message templates, as ``docs/error-codes.md`` lists them (``{name}``: a field or value)."""
    lines = []
    for code, (_statuses, _meaning, messages) in sorted(ERROR_CODES.items()):
        lines.append(f"- `{code}`")
        for variant, template in sorted(messages.items()):
            label = f" ({variant})" if variant else ""
            lines.append(f"  - `{template.replace('`', chr(39))}`{label}")
    return "\n".join(lines) + "\n"
