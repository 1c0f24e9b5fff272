"""Users' Ollama Cloud keys: candidate selection, failover, shared marks, resource figures.

How keys are chosen and when one counts as exhausted: ``docs/ollama-keys.md``.

Modules: ``plugin`` (the hooks), ``candidates`` (the hot path's cached view and probe gating),
``failures`` (what an upstream answer means), ``windows`` (reset-time arithmetic), ``resources``
(``/api/me`` and ``/api/usage``, at most once per 10 minutes per key), ``quota`` (Codex's
rate-limit headers), ``keys`` (add/list/remove/reorder, shared by CLI and dashboard), ``cli``.

For the dashboard: ``svc = request.app.ctx.state.services["ollama_keys"]`` (an
``OllamaKeysService``, one per worker). Every method checks that the key belongs to ``user_id``
and raises ``OllamaKeyError`` (a ``proxy.accounts.AccountError``) with a message fit for the user;
no method returns or logs a secret.

    await svc.list_keys(user_id, refresh=False) -> list[KeyView]
        The user's keys in order, with state and cached figures (see ``keys.KeyView``): name,
        masked, position, preferred, state ("ok" | "exhausted" | "invalid" | "unreadable"),
        account_id / account_email / plan, siblings (the user's other keys on the same Ollama
        account: they share one quota, group them), exhausted_since / exhausted_until /
        exhausted_window, invalid_since, last_error / last_error_at, session_used / weekly_used /
        monthly_used (fractions 0..1 or None), session_resets_at / weekly_resets_at /
        monthly_resets_at (estimates), usage (raw /api/usage: per-model counts, cost),
        usage_fetched_at / usage_error / usage_next_fetch_at, and the gateway's own counts
        session_requests / session_tokens / week_requests / week_tokens.
        refresh=True also starts background refreshes of stale figures and returns at once
        (never waits for Ollama); the page shows new figures on its next load.
    await svc.add(user_id, name, secret, preferred=False) -> OllamaKey
        Checks the key with POST /api/me first; a refused key is not stored (the error says why).
    await svc.remove(user_id, key_id)
    await svc.preferred_key(user_id) -> OllamaKey | None   None: the shared upstream serves
    await svc.make_preferred(user_id, key_id | None)   None: back to the shared upstream
    await svc.move_up(user_id, key_id) / await svc.move_down(user_id, key_id)
    await svc.recheck(user_id, key_id) -> str | None   None: accepted (clears "invalid"), else why not
    svc.request_refresh(key_id) -> bool                 background refresh if due (10-minute bound)
    await svc.attempts_for(user_id, limit=50) -> list[UpstreamAttempt]   newest failed attempts

Changes made through the service apply at once in this worker; other workers follow within
``list_cache_seconds`` (3 s), for the keys and the preferred key alike.
"""
