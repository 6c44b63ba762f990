-- Finance: the commission each partner leaves to the management company, the acquiring
-- fee of each payment method, a ledger with one entry per money event (card payment, cash
-- payment, cancelled cash payment, refund) carrying its fee, commission and the partner's
-- payout, and monthly settlement periods that are frozen once confirmed.

-- Commission terms of a legal entity; the term in force on a day is the latest one whose
-- effective_from is not after it.
create table commission_terms (
    term_id integer primary key,
    legal_entity_id integer not null references legal_entities (legal_entity_id),
    -- percent of the amount, decimal text ("10", "7.5")
    percent text not null,
    min_kopecks integer not null default 0 check (min_kopecks >= 0),
    fixed_kopecks integer not null default 0 check (fixed_kopecks >= 0),
    -- local calendar date 'YYYY-MM-DD'
    effective_from text not null,
    created_by integer references staff (staff_id),
    created_at integer not null,
    unique (legal_entity_id, effective_from)
);

-- The provider's acquiring fee per payment method, in force from a local date.
create table acquiring_rates (
    rate_id integer primary key,
    method text not null check (method in ('card', 'cash')),
    percent text not null,
    fixed_kopecks integer not null default 0 check (fixed_kopecks >= 0),
    effective_from text not null,
    created_by integer references staff (staff_id),
    created_at integer not null,
    unique (method, effective_from)
);

-- Every money event once. For each entry: card money = fee + commission + payout, where
-- card money is the amount for card payments and refunds and zero for cash (the partner
-- already holds cash, so its payout is minus the commission and fee).
create table ledger_entries (
    entry_id integer primary key,
    kind text not null check (kind in ('card_payment', 'cash_payment', 'cash_cancel', 'refund')),
    -- 'payment:<payment_id>', 'cash:<invoice_id>', 'cash-cancel:<invoice_id>', 'refund:<refund_id>'
    event_key text not null unique,
    legal_entity_id integer not null references legal_entities (legal_entity_id),
    order_id integer not null references orders (order_id),
    invoice_id integer not null references invoices (invoice_id),
    payment_id integer references payments (payment_id),
    refund_id integer references refunds (refund_id),
    -- when the money moved (as the app learned it)
    at integer not null,
    -- the month 'YYYY-MM' it is settled in: the month of `at`, or the first open month
    -- after a closed one (an adjustment)
    period text not null,
    -- 1 when settled in a later month than its own (its month was closed)
    adjustment integer not null default 0,
    -- signed: received positive, returned negative; card amounts include the surcharge
    amount_kopecks integer not null,
    -- the payer's surcharge for paying by card (part of the amount, kept by the company)
    surcharge_kopecks integer not null default 0,
    fee_kopecks integer not null,
    -- the management company's commission, surcharge included
    commission_kopecks integer not null,
    payout_kopecks integer not null,
    term_id integer references commission_terms (term_id),
    rate_id integer references acquiring_rates (rate_id),
    -- the fee the provider reported for a card payment (reconciliation)
    provider_fee_kopecks integer,
    check (kind in ('cash_payment', 'cash_cancel')
           or amount_kopecks = fee_kopecks + commission_kopecks + payout_kopecks),
    check (kind in ('card_payment', 'refund')
           or 0 = fee_kopecks + commission_kopecks + payout_kopecks)
);
create index ledger_period on ledger_entries (period, legal_entity_id, order_id);
create index ledger_order on ledger_entries (order_id, entry_id);
create index ledger_invoice on ledger_entries (invoice_id, entry_id);

-- A confirmed (frozen) settlement of a legal entity for a month, with its totals as
-- confirmed; entries never change, so the totals can be checked again at any time.
create table settlement_periods (
    legal_entity_id integer not null references legal_entities (legal_entity_id),
    period text not null,
    closed_at integer not null,
    closed_by integer not null references staff (staff_id),
    entries integer not null,
    card_kopecks integer not null,
    cash_kopecks integer not null,
    refunded_kopecks integer not null,
    fee_kopecks integer not null,
    commission_kopecks integer not null,
    payout_kopecks integer not null,
    primary key (legal_entity_id, period)
);
