-- A payment has one income receipt of each kind, but as many refund receipts as it has
-- refunds: the (payment, kind) rule leaves refund receipts out (they are one per refund).
drop index receipts_payment;
create unique index receipts_payment on receipts (payment_id, kind)
    where payment_id is not null and kind not in ('offset', 'refund');
