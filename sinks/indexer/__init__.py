"""The Elasticsearch indexer: Kafka topics -> bulk requests -> committed offsets."""
