"""Messages we send to followers through WeChat's customer-service API (客服消息).

Two ways in, one way out: staff answer a follower from the conversation (`sending.send_now`,
synchronous, the result shown at once), and "reply all" rules leave their follow-ups in the
outbox (`outbox.store_followups`, in the transaction that stores the message), which the
django-tasks worker (`tasks.deliver_outbox`, run by `manage.py db_worker`) sends in order with
retries. Both store an OutgoingMessage row before calling WeChat and call it through
`clients.client_for_account` and `sending.attempt`.
"""
