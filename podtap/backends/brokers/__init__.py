"""The brokers a queue split drives (SQS, RabbitMQ, Kafka) behind one interface, and the
forwarder that carries out :func:`podtap.core.queues.route` on the original queue."""
