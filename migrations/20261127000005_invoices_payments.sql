-- Invoices with lines from the provider's price list, card payments through a payment
-- provider (the sandbox by default), saved cards, webhooks and outgoing e-mail.

alter table invoices add column created_by integer references staff (staff_id);
alter table invoices add column activated_at integer;
alter table invoices add column paid_at integer;
-- 'card' (paid in the app) or 'cash' («Отметить как оплаченный»)
alter table invoices add column paid_method text;
alter table invoices add column cancelled_at integer;
alter table invoices add column cancelled_by integer references staff (staff_id);
-- Sum of succeeded refunds (the refunds issue keeps it current).
alter table invoices add column refunded_kopecks integer not null default 0;


create table invoice_lines (
    line_id integer primary key,
    invoice_id integer not null references invoices (invoice_id),
    price_item_id integer references price_items (price_item_id),
    -- copied from the price list: a later price change never alters an invoice
    name text not null,
    unit text not null,
    unit_price_kopecks integer not null check (unit_price_kopecks >= 0),
    -- decimal text, up to three places ("1", "2.5")
    quantity text not null,
    -- 'percent' (decimal text) or 'amount' (kopecks); empty for none
    discount_kind text not null default '' check (discount_kind in ('', 'percent', 'amount')),
    discount_value text not null default '',
    amount_kopecks integer not null check (amount_kopecks >= 0),
    refunded_kopecks integer not null default 0
);
create index invoice_lines_invoice on invoice_lines (invoice_id, line_id);

-- A payment attempt for an invoice. Written before the provider is called (the outbox):
-- status 'new' means the provider has not confirmed creating it yet.
create table payments (
    payment_id integer primary key,
    invoice_id integer not null references invoices (invoice_id),
    order_id integer not null references orders (order_id),
    resident_id integer not null references residents (resident_id),
    provider text not null,
    idempotency_key text not null unique,
    provider_payment_id text unique,
    amount_kopecks integer not null check (amount_kopecks > 0),
    commission_kopecks integer not null default 0,
    status text not null check (status in ('new', 'pending', 'succeeded', 'failed', 'cancelled')),
    confirmation_url text,
    card_token text,
    save_card integer not null default 0,
    card_mask text,
    -- the provider's acquiring fee, reported with the result (finance issue)
    fee_kopecks integer,
    failure text,
    receipt_email text,
    attempts integer not null default 0,
    created_at integer not null,
    updated_at integer not null
);
create index payments_invoice on payments (invoice_id, payment_id);
create index payments_status on payments (status, updated_at);

-- Every webhook event once: a replay finds its id here and changes nothing.
create table webhook_events (
    event_id text primary key,
    provider text not null,
    kind text not null,
    object_id text not null,
    received_at integer not null
);

create table saved_cards (
    card_id integer primary key,
    resident_id integer not null references residents (resident_id),
    provider text not null,
    token text not null,
    mask text not null,
    created_at integer not null,
    removed_at integer,
    unique (resident_id, provider, token)
);

alter table residents add column receipt_email text;

-- Outgoing e-mail, sent by a worker through SMTP, or written as .eml files without SMTP.
create table emails (
    email_id integer primary key,
    to_address text not null,
    subject text not null,
    body text not null,
    -- a key that makes the same message go out once
    dedupe_key text not null unique,
    created_at integer not null,
    sent_at integer,
    attempts integer not null default 0,
    last_error text
);
create index emails_pending on emails (sent_at, email_id);

-- The sandbox provider's own books (it would be another company's database).
create table sandbox_payments (
    id text primary key,
    idempotency_key text not null unique,
    amount_kopecks integer not null,
    description text not null,
    return_url text not null,
    status text not null check (status in ('pending', 'requires_confirmation', 'succeeded', 'failed')),
    card_token text,
    card_mask text,
    save_card integer not null default 0,
    fee_kopecks integer not null default 0,
    failure text,
    -- injected failure for tests: 'lose_webhooks', 'repeat_webhooks', …
    fault text not null default '',
    created_at integer not null,
    updated_at integer not null
);

create table sandbox_cards (
    token text primary key,
    mask text not null,
    number_last4 text not null,
    created_at integer not null
);

create table sandbox_refunds (
    id text primary key,
    payment_id text not null references sandbox_payments (id),
    idempotency_key text not null unique,
    amount_kopecks integer not null,
    status text not null check (status in ('pending', 'succeeded', 'failed')),
    due_at integer not null,
    created_at integer not null
);

create table sandbox_webhooks (
    id integer primary key,
    event_id text not null,
    body text not null,
    due_at integer not null,
    attempts integer not null default 0,
    delivered_at integer,
    dropped integer not null default 0
);
create index sandbox_webhooks_due on sandbox_webhooks (delivered_at, due_at);
