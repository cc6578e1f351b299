"""A Uniconta connection's settings and secrets."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ledgerbridge.connectors.settings import ConnectionSettings, PathKind, Strict, Text, Url
from ledgerbridge.connectors.uniconta.mapping import CountryMapping
from ledgerbridge.mail import render
from ledgerbridge.model.common import Email

LOGIN_FORM = re.compile(r"00(?P<company>[0-9]+)/(?P<user>.+)")
"""Uniconta's login, ``00<CompanyId>/<user name>``."""
DEFAULT_DEBTOR_NEXT = 100000
"""Where a webshop's customers start: above the debtor numbers a company usually has."""


class UnicontaUser(Strict):
    """Who the saved user is, as Uniconta said when the credentials were checked."""

    type: str | None = Field(None, description="Uniconta user type (Server for integrations)")
    roles: list[str] = Field(default_factory=list, description="Invoices need Reseller")


class DebtorNumbers(Strict):
    """Account numbers the hub hands out to parties that come without one (a webshop's
    customers, a CRM's suppliers); accounts imported from Uniconta keep theirs."""

    next: int = Field(ge=1, description="The next number handed out")
    prefix: str = Field("", max_length=20, description="Put before every number")


class CompanyDetails(Strict):
    """The seller as the invoice PDFs ledgerbridge prints show it."""

    name: Text = Field(description="The company's name")
    address: str | None = Field(None, max_length=500, description="One line, or several")
    vat_number: str | None = Field(None, max_length=50, description="e.g. DK12345678")


class InvoiceMail(Strict):
    """Booked invoices mailed to the customer from the shop's own SMTP server
    (docs/invoice-mail.md); the password is the secret ``smtp_password``."""

    enabled: bool = Field(False, description="Mail booked invoices to the customer")
    smtp_host: Text = Field(description="The SMTP server")
    smtp_port: int = Field(587, ge=1, le=65535, description="587 (STARTTLS), 465 (TLS), 25")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="none, starttls (upgrade after connecting) or tls (implicit)"
    )
    smtp_user: Text | None = Field(None, description="Login; none: no authentication")
    tls_verify: bool = Field(True, description="Check the server's certificate")
    tls_ca_file: str | None = Field(
        None, max_length=1000, description="A CA bundle for a server with its own certificate"
    )
    from_address: Email = Field(description="The sender address")
    from_name: str | None = Field(None, max_length=200, description="The sender's name")
    reply_to: Email | None = Field(None, description="Where the customer's answers go")
    subject_template: str = Field(
        render.DEFAULT_SUBJECT, min_length=1, max_length=1000,
        description="Jinja2 template of the subject (variables: docs/invoice-mail.md)",
    )  # fmt: skip
    body_template: str = Field(
        render.DEFAULT_BODY, min_length=1, max_length=20_000,
        description="Jinja2 template of the plain-text body",
    )  # fmt: skip
    layout: Literal["uniconta", "standard", "compact"] = Field(
        "uniconta",
        description="uniconta: the PDF Uniconta's booking answers (ledgerbridge's standard "
        "layout when there is none); standard or compact: printed by ledgerbridge",
    )
    company: CompanyDetails = Field(description="The seller on ledgerbridge's layouts")
    logo_path: str | None = Field(
        None, max_length=1000, description="A PNG or JPEG file put on the standard layout"
    )
    give_up_after_hours: int = Field(
        48, ge=1, le=336, description="How long a server that is down or busy is retried"
    )

    @field_validator("subject_template", "body_template")
    @classmethod
    def _renders(cls, value: str) -> str:
        """Checked on save against a sample invoice: a template that fails there would fail
        on every invoice."""
        try:
            render.check(value)
        except render.TemplateProblem as exc:
            raise ValueError(f"template does not render: {exc}") from exc
        return value

    @field_validator("from_name")
    @classmethod
    def _name_on_one_line(cls, value: str | None) -> str | None:
        """The name goes in the From header, which a line break would end: every mail would
        fail to be made."""
        if value is not None and any(char in value for char in "\r\n"):
            raise ValueError("the sender's name must be one line, without line breaks")
        return value

    @field_validator("subject_template")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in render.render(value, render.sample_context()).strip():
            raise ValueError("the subject must render as one line")
        return value


class UnicontaSettings(ConnectionSettings):
    learned: ClassVar[frozenset[str]] = frozenset({"uniconta_user"})
    paths: ClassVar[dict[str, PathKind]] = {"invoice_mail.logo_path": "image"}

    company_id: int = Field(
        ge=1, description="The company the user reaches (setup login lists them)"
    )
    username: Text = Field(description="A Uniconta user of type Server")
    post_invoices: bool = Field(
        False, description="Post invoices the app marks ready; otherwise they go in as orders"
    )
    booking_url: Url | None = Field(
        None,
        description="The booking service (UnicontaRest) that posts invoices; without it "
        "invoices to post are left as orders ready to book in Uniconta",
    )
    debtor_numbers: DebtorNumbers | None = Field(
        None, description='Numbers for customers sent without one, default {"next": 100000}'
    )
    creditor_numbers: DebtorNumbers | None = Field(
        None,
        description='Numbers for suppliers sent without one, e.g. {"next": 500000}; without '
        "it such a supplier waits (creditor_number_missing) until it has one",
    )
    products_master: Literal["uniconta", "app"] = Field(
        "uniconta",
        description="uniconta: items are read from Uniconta only; app: the hub's products "
        "(from the shop, by SKU) are created and updated in Uniconta",
    )
    item_group: Text | None = Field(
        None, description="Uniconta item group of items created from the hub's products"
    )
    vat_mapping: dict[Text, Text] = Field(
        default_factory=dict, description="Uniconta VAT code → hub VAT code"
    )
    unit_mapping: dict[Text, Text] = Field(
        default_factory=dict, description="Uniconta unit → hub unit, added to the common ones"
    )
    payment_terms: dict[Text, Annotated[int, Field(ge=0, le=3650)]] = Field(
        default_factory=dict, description="Uniconta payment term code → days"
    )
    country_mapping: CountryMapping = Field(
        default_factory=dict,
        description="ISO 3166 code → Uniconta country name, added to the known ones, e.g. "
        '{"BR": "Brazil"}',
    )
    invoice_mail: InvoiceMail | None = Field(
        None, description="Mail booked invoices from your own SMTP server"
    )
    uniconta_user: UnicontaUser | None = None

    @field_validator("username")
    @classmethod
    def _plain_username(cls, value: str, info: ValidationInfo) -> str:
        """The connection logs in as ``00<company_id>/<username>``: a name given in that form
        (as a login prints it) is kept without the prefix, so the prefix is never doubled."""
        match = LOGIN_FORM.fullmatch(value)
        if match is None:
            return value
        company, plain = int(match["company"]), match["user"]
        if company != info.data.get("company_id"):
            raise ValueError(
                f"'{value}' is the login of company {company}, not of company_id "
                f"{info.data.get('company_id')}: give the plain user name ('{plain}'); the "
                "company is added from company_id"
            )
        return plain

    @model_validator(mode="after")
    def _numbers(self) -> Self:
        """Stored explicitly (the stored settings keep only what was given): the hub's number
        sequence reads it from there."""
        if self.debtor_numbers is None:
            self.debtor_numbers = DebtorNumbers(next=DEFAULT_DEBTOR_NEXT, prefix="")
        return self


class UnicontaSecrets(Strict):
    password: Text = Field(description="The Uniconta user's password")
    smtp_password: Text | None = Field(
        None, description="The password of the SMTP user that sends invoice mail"
    )
