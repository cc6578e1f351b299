"""Benchmark: a Yuki domain of 5,000 contacts and 10,000 sent invoices, against the daily call
limit (1,000 calls per domain by default).

Scenario A (the usual start): the initial import of the contacts from Yuki, a no-change pull,
then 10,000 hub invoices with status sent pushed to Yuki. Scenario B: the same number of
contacts created in the hub instead (each needs one ``UpdateContact`` call: Yuki has no batch
contact write), with their invoices.

The Yuki sandbox runs as a separate process with a limit high enough to count every call; the
figures are API calls (counted by the sandbox), wall time and peak memory of this process
(max RSS, and the Python heap peak of each phase from tracemalloc). Days needed = calls over
the daily limit, rounded up: the engine books every call in its quota ledger and postpones the
rest of a run to the next Amsterdam day.

    .venv/bin/python benchmarks/bench_yuki.py --contacts 5000 --invoices 10000
"""

from __future__ import annotations

import argparse
import json
import math
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.settings import Settings

ACCESS_KEY = "bench-access-key"
COUNTING_LIMIT = 1_000_000
PAGE = 100
"""Rows per ``GetSuppliersAndCustomers`` page."""
MIN_FORMULA = (
    f"initial import: (ticked // {PAGE} + 1) + (unticked // {PAGE} + 1) pages of "
    "GetSuppliersAndCustomers (contacts with a box ticked, then with none: the only listings "
    "that carry the flags; a page shorter than 100 ends a listing; the customers are among "
    "the ticked ones)"
)


def _calls(url: str) -> int:
    report = httpx.get(f"{url}/_sandbox/calls").json()
    return sum(int(domain["total"]) for domain in report)


def _phase(name: str, results: dict[str, Any], url: str, action: Any) -> None:
    calls = _calls(url)
    tracemalloc.reset_peak()
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    _, heap_peak = tracemalloc.get_traced_memory()
    results[name] = {
        "wall_s": round(elapsed, 2),
        "api_calls": _calls(url) - calls,
        "heap_peak_mb": round(heap_peak / 2**20, 1),
    }
    print(name, results[name], file=sys.stderr, flush=True)


def _sandbox(contacts: int, seed: int) -> tuple[subprocess.Popen[str], str, str, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge.sandbox.yuki", "--port", str(port),
         "--contacts", str(contacts), "--seed", str(seed), "--access-key", ACCESS_KEY,
         "--daily-call-limit", str(COUNTING_LIMIT)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    banner = process.stdout.readline()
    found = re.search(r"domain (\S+)\s+administration (\S+)", banner)
    assert found, banner
    # The server logs every request on stdout: keep reading so that it never blocks.
    threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/_sandbox/health")
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, url, found.group(1), found.group(2)


def _invoice(party_id: str, number: int) -> dict[str, Any]:
    return {
        "party_id": party_id, "number": f"B{number:06d}", "date": "2026-11-02",
        "payment_term_days": 14, "currency": "EUR", "status": "sent",
        "lines": [
            {"description": "Advies", "quantity": "2", "unit_price": "95.00",
             "vat_code": "1", "vat_rate": "21"},
            {"description": "Reiskosten", "quantity": "1", "unit_price": "40.50",
             "vat_code": "1", "vat_rate": "21"},
        ],
    }  # fmt: skip


def _customers(system: System, principal: Principal, limit: int) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        page = system.records.list_page(principal, "party", limit=1000, after=after)
        ids.extend(v.id for v in page if v.data.get("is_customer") and v.data.get("debtor_number"))
        if len(page) < 1000:
            return ids[:limit]
        after = page[-1].id


def run(args: argparse.Namespace, scenario: str, workdir: Path) -> dict[str, Any]:
    seeded_contacts = args.contacts if scenario == "A" else 0
    process, url, domain, administration = _sandbox(seeded_contacts, args.seed)
    results: dict[str, Any] = {"scenario": scenario}
    try:
        settings = Settings(
            database_url=f"sqlite:///{workdir / f'bench_{scenario}.db'}",
            secret_keys=Fernet.generate_key().decode(),
            public_url="http://127.0.0.1:9",
        )
        system = System(settings)
        issued = system.tenancy.create_tenant("Bench", "owner@bench.example")
        principal = system.tenancy.authenticate(issued.api_key)
        assert principal is not None
        before = _calls(url)
        connection = system.connections.create(
            principal, system="yuki", name="bench", timezone="Europe/Amsterdam",
            settings={"domain_id": domain, "administration_id": administration,
                      "base_url": url, "import_suppliers": True,
                      "daily_call_limit": COUNTING_LIMIT,
                      "debtor_numbers": {"next": 100000, "prefix": ""}},
            secrets_={"access_key": ACCESS_KEY},
        )  # fmt: skip
        results["set_up_calls"] = _calls(url) - before
        cid = connection["id"]
        tracemalloc.start()

        def initial_import() -> None:
            system.connections.start_import(principal, cid)
            system.run_until_idle()

        _phase("initial_import", results, url, initial_import)
        if scenario == "B":

            def hub_contacts() -> None:
                for n in range(args.contacts):
                    system.records.create(
                        principal, "party",
                        {"name": f"Hub Klant {n} B.V.", "is_customer": True,
                         "email": f"klant{n}@example.nl"},
                    )  # fmt: skip
                system.run_until_idle()

            _phase("push_new_contacts", results, url, hub_contacts)
            results["push_new_contacts"]["records"] = args.contacts
            # The user ticks the Customer box in Yuki for every one of them.
            state = httpx.get(f"{url}/_sandbox/domains/{domain}/contacts").json()
            for contact in state:
                httpx.post(
                    f"{url}/_sandbox/domains/{domain}/contacts/{contact['id']}/customer",
                    json={"value": True},
                )
        else:
            results["initial_import"]["records"] = args.contacts
            contacts = httpx.get(f"{url}/_sandbox/domains/{domain}/contacts").json()
            ticked = sum(1 for c in contacts if c.get("is_customer") or c.get("is_supplier"))
            minimum = (ticked // PAGE + 1) + ((len(contacts) - ticked) // PAGE + 1)
            results["initial_import"].update(
                minimum=minimum,
                minimum_formula=MIN_FORMULA,
                times_minimum=round(results["initial_import"]["api_calls"] / minimum, 2),
            )
            print("initial_import minimum", minimum, MIN_FORMULA, file=sys.stderr, flush=True)

        def no_change_pull() -> None:
            system.connections.request(principal, cid, "pull")
            system.run_until_idle()

        _phase("pull", results, url, no_change_pull)
        customers = _customers(system, principal, args.contacts)

        def invoices() -> None:
            for n in range(args.invoices):
                system.records.create(
                    principal, "invoice", _invoice(customers[n % len(customers)], n)
                )
            system.run_until_idle()

        _phase("push_invoices", results, url, invoices)
        results["push_invoices"]["records"] = args.invoices
        tracemalloc.stop()
        booked = httpx.get(f"{url}/_sandbox/administrations/{administration}/invoices").json()
        results["invoices_in_yuki"] = len(booked)
        results["open_issues"] = system.connections.status(principal, cid)["open_issues"]
        total = (
            sum(
                results[p]["api_calls"]
                for p in ("initial_import", "push_new_contacts", "pull", "push_invoices")
                if p in results
            )
            + results["set_up_calls"]
        )
        results["total_api_calls"] = total
        results["days_at_1000_calls"] = math.ceil(total / 1000)
        results["days_at_5000_calls"] = math.ceil(total / 5000)
        system.close()
    finally:
        process.terminate()
        process.wait()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--invoices", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenario", choices=("A", "B", "both"), default="both")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ledgerbridge-bench-yuki-"))
    scenarios = ("A", "B") if args.scenario == "both" else (args.scenario,)
    results: dict[str, Any] = {"contacts": args.contacts, "invoices": args.invoices}
    for scenario in scenarios:
        results[scenario] = run(args, scenario, workdir)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"yuki_{args.contacts}_{args.invoices}.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
