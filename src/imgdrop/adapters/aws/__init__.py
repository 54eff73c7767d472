"""AWS adapters: S3BlobStore and DynamoCatalog/DynamoUsers over injected boto3 clients."""
