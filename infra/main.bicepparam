using './main.bicep'

// Secrets come from the environment of whoever deploys, never from this file.
param namePrefix = readEnvironmentVariable('SENDWORKFLOWS_NAME_PREFIX', 'sendwf')
param emailFrom = readEnvironmentVariable('SENDWORKFLOWS_EMAIL_FROM')
param publicBaseUrl = readEnvironmentVariable('SENDWORKFLOWS_PUBLIC_BASE_URL', '')
param postgresAdminPassword = readEnvironmentVariable('SENDWORKFLOWS_POSTGRES_PASSWORD')
param sendGridApiKey = readEnvironmentVariable('SENDWORKFLOWS_SENDGRID_API_KEY')
param signingKey = readEnvironmentVariable('SENDWORKFLOWS_SIGNING_KEY')
param bootstrapAdminKey = readEnvironmentVariable('SENDWORKFLOWS_BOOTSTRAP_ADMIN_KEY')
param sendGridWebhookPublicKey = readEnvironmentVariable('SENDWORKFLOWS_SENDGRID_WEBHOOK_PUBLIC_KEY', '')
param writeSecrets = bool(readEnvironmentVariable('SENDWORKFLOWS_WRITE_SECRETS', 'true'))
