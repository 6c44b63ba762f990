-- Refunds of card payments (staff-initiated or on a resident's request), per invoice line,
-- sent to the payment provider through an outbox and completed by webhook or polling.

create table refund_requests (
    request_id integer primary key,
    order_id integer not null references orders (order_id),
    resident_id integer not null references residents (resident_id),
    full integer not null,
    amount_kopecks integer not null check (amount_kopecks > 0),
    reason text not null,
    state text not null check (state in ('requested', 'rejected', 'processed')),
    reject_reason text not null default '',
    decided_by integer references staff (staff_id),
    decided_at integer,
    created_at integer not null
);
create index refund_requests_order on refund_requests (order_id, request_id);
-- At most one open request per order.
create unique index refund_requests_open on refund_requests (order_id) where state = 'requested';

create table refunds (
    refund_id integer primary key,
    order_id integer not null references orders (order_id),
    invoice_id integer not null references invoices (invoice_id),
    payment_id integer not null references payments (payment_id),
    request_id integer references refund_requests (request_id),
    amount_kopecks integer not null check (amount_kopecks > 0),
    full integer not null,
    -- seen by staff only
    reason text not null,
    state text not null check (state in ('processing', 'succeeded', 'failed')),
    -- made by the modal when it opens: a double click or a retried request finds this row
    idempotency_key text not null unique,
    provider_refund_id text unique,
    failure text,
    staff_id integer not null references staff (staff_id),
    created_at integer not null,
    updated_at integer not null
);
create index refunds_invoice on refunds (invoice_id, refund_id);
create index refunds_order on refunds (order_id, refund_id);
create index refunds_state on refunds (state, updated_at);

create table refund_lines (
    refund_id integer not null references refunds (refund_id),
    line_id integer not null references invoice_lines (line_id),
    quantity text not null,
    unit_price_kopecks integer not null,
    amount_kopecks integer not null check (amount_kopecks > 0),
    primary key (refund_id, line_id)
);
create index refund_lines_line on refund_lines (line_id);
