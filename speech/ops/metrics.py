"""Prometheus metrics. Under make serve, PROMETHEUS_MULTIPROC_DIR makes them add up across worker processes."""

from prometheus_client import Counter, Gauge, Histogram

# Gateway time is small (a cache hit and one request upstream); provider time is the rest.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONNECT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)
FAILURE_STAGES = ("session", "media", "negotiation", "ice")

sessions_total = Counter("realtime_sessions_total", "Session mint attempts.", ["tenant", "provider", "outcome"])
session_failures_total = Counter(
    "realtime_session_failures_total", "Failed session mints, by error code.", ["tenant", "provider", "reason"]
)
session_create_seconds = Histogram(
    "realtime_session_create_seconds", "Time to answer POST /realtime_session.", buckets=LATENCY_BUCKETS
)
provider_upstream_seconds = Histogram(
    "realtime_provider_upstream_seconds", "Time the provider took to mint.", ["provider"], buckets=LATENCY_BUCKETS
)
webrtc_connect_seconds = Histogram(
    "realtime_webrtc_connect_seconds", "Browser-reported time from Connect to connected.", buckets=CONNECT_BUCKETS
)
webrtc_failures_total = Counter(
    "realtime_webrtc_failures_total", "Browser-reported connection failures, by stage.", ["stage"]
)

# The shared cache (config/cache.py): while Redis fails, each process serves from its own memory.
shared_cache_degraded = Gauge(
    "shared_cache_degraded",
    "1 while this process serves the cache from its own memory because Redis failed.",
    multiprocess_mode="livemax",
)
shared_cache_outages_total = Counter("shared_cache_outages_total", "Redis outages this process has seen begin.")
shared_cache_fallback_operations_total = Counter(
    "shared_cache_fallback_operations_total", "Cache calls served from this process's memory because Redis failed."
)


def session_observe(*, tenant, provider, error_code, seconds, upstream_seconds):
    sessions_total.labels(tenant, provider, "failure" if error_code else "success").inc()
    if error_code:
        session_failures_total.labels(tenant, provider, error_code).inc()
    session_create_seconds.observe(seconds)
    if upstream_seconds is not None:
        provider_upstream_seconds.labels(provider).observe(upstream_seconds)


# Call supervision (speech/supervisor/dispatch.py, streams.py): how attach jobs reach supervisors.
calls_unsupervised_total = Counter(
    "calls_unsupervised_total", "Calls a supervisor could not (or would not) join, by reason.", ["reason"]
)
supervised_calls = Gauge(
    "supervised_calls", "Calls the supervisors hold (a job being run).", multiprocess_mode="livesum"
)
supervisor_job_lag_seconds = Histogram(
    "supervisor_job_lag_seconds",
    "From an attach job's submission to a supervisor starting it.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
supervisor_claims_total = Counter(
    "supervisor_claims_total", "Attach jobs taken over from a supervisor that stopped or died."
)
supervisor_jobs_total = Counter(
    "supervisor_jobs_total",
    "Attach jobs a supervisor finished, by outcome (supervised, already_ended, released, lost, failed).",
    ["outcome"],
)

# Calls, as their supervisors see them (speech/supervisor/session.py).
EVENT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)
DURATION_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

calls_active = Gauge("calls_active", "Calls a supervisor holds a sideband to.", multiprocess_mode="livesum")
call_duration_seconds = Histogram(
    "call_duration_seconds", "Length of calls the supervisor ended or saw end, by end reason.", ["reason"],
    buckets=DURATION_BUCKETS,
)  # fmt: skip
call_tokens_total = Counter(
    "call_tokens_total", "Tokens of supervised calls (response.done usage).", ["direction", "kind"]
)
sideband_reconnects_total = Counter("sideband_reconnects_total", "Sideband WebSockets re-joined after a drop.")
sideband_event_seconds = Histogram(
    "sideband_event_seconds", "Time the supervisor takes to handle one sideband event.", buckets=EVENT_BUCKETS
)
calls_refused_total = Counter(
    "calls_refused_total", "Calls ended because the provider's session was not the one the gateway minted."
)

# Tools (speech/supervisor/tools.py): runs by kind (webhook, builtin, mcp_approval, unknown) and outcome (ok or
# the error code), the whole run's time, and what the gateway adds to a run (arguments done -> output sent,
# less the handler's own time; make bench's figure).
TOOL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
tool_runs_total = Counter("tool_runs_total", "Tool runs of supervised calls, by kind and outcome.", ["kind", "outcome"])
tool_run_seconds = Histogram(
    "tool_run_seconds", "From a tool call's arguments to its output sent, by kind.", ["kind"], buckets=TOOL_BUCKETS
)
tool_gateway_seconds = Histogram(
    "tool_gateway_seconds", "What the gateway adds to a tool run (its handler's own time left out).",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)  # fmt: skip
transcript_lines_dropped_total = Counter(
    "transcript_lines_dropped_total", "Transcript lines not recorded: the call had recorded its maximum."
)
tool_outputs_forged_total = Counter(
    "tool_outputs_forged_total", "function_call_output items the supervisor did not send (the browser's)."
)
