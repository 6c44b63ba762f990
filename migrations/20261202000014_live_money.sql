-- Live money: payment accounts of legal entities at real acquirers (ЮKassa, Т-Банк),
-- fiscal receipts under 54-ФЗ with their lines, VAT rates with the dates they apply
-- from, and СБП as a second payment method.

-- VAT rates. A rate is offered for invoice lines from `effective_from` and, when
-- `effective_to` is set, up to and including that local date. Codes are the app's own;
-- each provider adapter maps them to its codes.
create table vat_rates (
    code text not null check (code in ('none', 'vat0', 'vat5', 'vat7', 'vat10', 'vat20', 'vat22')),
    name text not null,
    -- decimal text; 'none' is 0
    percent text not null,
    effective_from text not null,
    effective_to text,
    primary key (code, effective_from)
) without rowid;
insert into vat_rates (code, name, percent, effective_from, effective_to) values
    ('none', 'Без НДС', '0', '2019-01-01', null),
    ('vat0', 'НДС 0%', '0', '2019-01-01', null),
    ('vat10', 'НДС 10%', '10', '2019-01-01', null),
    ('vat20', 'НДС 20%', '20', '2019-01-01', '2025-12-31'),
    ('vat5', 'НДС 5%', '5', '2025-01-01', null),
    ('vat7', 'НДС 7%', '7', '2025-01-01', null),
    ('vat22', 'НДС 22%', '22', '2026-01-01', null);

-- What a price-list item is for a receipt: its VAT rate and payment subject ('service'
-- «Услуга», 'commodity' «Товар»). The unit is the price item's `unit`.
alter table price_items add column vat_code text not null default 'none';
alter table price_items add column payment_subject text not null default 'service'
    check (payment_subject in ('service', 'commodity'));
-- Copied onto the invoice line with the name and price.
alter table invoice_lines add column vat_code text not null default 'none';
alter table invoice_lines add column payment_subject text not null default 'service'
    check (payment_subject in ('service', 'commodity'));

-- A legal entity's taxation system and who issues its receipts: the acquirer's cloud
-- register ('acquirer') or its own cash register ('own_register', then the app sends none).
alter table legal_entities add column taxation text not null default 'usn_income'
    check (taxation in ('osn', 'usn_income', 'usn_income_outcome', 'esn', 'patent'));
alter table legal_entities add column receipts_via text not null default 'acquirer'
    check (receipts_via in ('acquirer', 'own_register'));

-- A legal entity's shop / terminal at a provider. At most one is active per entity; an
-- entity without one takes payments through the configured default (the sandbox). Old
-- accounts stay: payments made through them are still polled and refunded there.
create table payment_accounts (
    account_id integer primary key,
    legal_entity_id integer not null references legal_entities (legal_entity_id),
    provider text not null check (provider in ('sandbox', 'yookassa', 'tbank')),
    -- ЮKassa shopId, Т-Банк TerminalKey
    shop_id text not null,
    -- the secret key / terminal password: AES-256-GCM under SUZ_SECRETS_KEY (base64 of
    -- nonce ‖ ciphertext), or the name of an environment variable holding it
    secret_sealed text,
    secret_env text,
    -- the provider's API root; empty for the documented production address
    api_url text not null default '',
    -- networks notifications may come from (ЮKassa), comma-separated CIDRs; empty for
    -- the provider's published list
    notify_networks text not null default '',
    active integer not null default 1,
    created_by integer references staff (staff_id),
    created_at integer not null,
    updated_at integer not null,
    check (secret_sealed is not null or secret_env is not null)
);
create unique index payment_accounts_active on payment_accounts (legal_entity_id) where active = 1;

-- The method and the account of a payment (null account: the default provider).
alter table payments add column method text not null default 'card' check (method in ('card', 'sbp'));
alter table payments add column account_id integer references payment_accounts (account_id);

-- СБП in «Комиссии и эквайринг»: the rates table is rebuilt to admit the method. The
-- ledger's references to it are checked at commit, when the new table bears the name.
pragma defer_foreign_keys = on;
create table acquiring_rates_new (
    rate_id integer primary key,
    method text not null check (method in ('card', 'sbp', 'cash')),
    percent text not null,
    fixed_kopecks integer not null default 0 check (fixed_kopecks >= 0),
    effective_from text not null,
    created_by integer references staff (staff_id),
    created_at integer not null,
    unique (method, effective_from)
);
insert into acquiring_rates_new select rate_id, method, percent, fixed_kopecks, effective_from, created_by, created_at
    from acquiring_rates;
drop table acquiring_rates;
alter table acquiring_rates_new rename to acquiring_rates;

-- Fiscal receipts. One row per receipt the system is responsible for:
--   'prepayment' «Предоплата 100%» with a card/СБП payment made before the service is done;
--   'full_payment' «Полный расчет» with a payment made after it;
--   'offset' «Полный расчет» with зачет предоплаты, once, when a prepaid order is done;
--   'refund' «Возврат прихода» with a refund, with exactly its lines;
--   'outside' a cash payment: the partner's own register's business, recorded only.
-- States: 'to_send' → 'sent' → 'registered' | 'failed' (with the reason); 'outside'.
create table receipts (
    receipt_id integer primary key,
    order_id integer not null references orders (order_id),
    invoice_id integer not null references invoices (invoice_id),
    payment_id integer references payments (payment_id),
    refund_id integer references refunds (refund_id),
    kind text not null check (kind in ('prepayment', 'full_payment', 'offset', 'refund', 'outside')),
    state text not null check (state in ('to_send', 'sent', 'registered', 'failed', 'outside')),
    provider text not null default '',
    account_id integer references payment_accounts (account_id),
    taxation text not null,
    customer_email text,
    customer_phone text,
    total_kopecks integer not null check (total_kopecks >= 0),
    -- the idempotency key of a receipt sent on its own (offset)
    idempotency_key text not null unique,
    provider_receipt_id text,
    fiscal_number text,
    fn_number text,
    fiscal_document text,
    fiscal_sign text,
    ofd text,
    url text,
    qr_url text,
    registered_at integer,
    failure text,
    attempts integer not null default 0,
    created_at integer not null,
    updated_at integer not null
);
create index receipts_order on receipts (order_id, receipt_id);
create index receipts_state on receipts (state, updated_at);
create unique index receipts_payment on receipts (payment_id, kind) where payment_id is not null and kind <> 'offset';
create unique index receipts_refund on receipts (refund_id) where refund_id is not null;
create unique index receipts_offset on receipts (invoice_id) where kind = 'offset';
create unique index receipts_outside on receipts (invoice_id) where kind = 'outside';

create table receipt_lines (
    receipt_id integer not null references receipts (receipt_id),
    position integer not null,
    name text not null,
    unit text not null,
    -- decimal text, up to three places
    quantity text not null,
    price_kopecks integer not null check (price_kopecks >= 0),
    amount_kopecks integer not null check (amount_kopecks >= 0),
    vat_code text not null,
    payment_subject text not null,
    -- 'full_prepayment' | 'full_payment'
    payment_mode text not null check (payment_mode in ('full_prepayment', 'full_payment')),
    primary key (receipt_id, position)
) without rowid;

-- The sandbox provider's own receipts (another company's books).
create table sandbox_receipts (
    id text primary key,
    idempotency_key text not null unique,
    payment_id text,
    refund_id text,
    kind text not null,
    body text not null,
    status text not null check (status in ('pending', 'succeeded', 'canceled')),
    failure text,
    due_at integer not null,
    created_at integer not null
);
alter table sandbox_payments add column method text not null default 'card';
alter table sandbox_payments add column receipt text;
