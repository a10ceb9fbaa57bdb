// SendWorkflows on Azure: a Flex Consumption function app running the service as a custom handler,
// Azure Database for PostgreSQL, Key Vault for secrets (read through Key Vault references by the
// app's managed identity), Application Insights, and the storage the Functions host needs.
// Deploy with: az deployment group create -g <group> -f infra/main.bicep -p infra/main.bicepparam

targetScope = 'resourceGroup'

@description('Short lowercase prefix for resource names, e.g. sendwf.')
@minLength(3)
@maxLength(10)
param namePrefix string

param location string = resourceGroup().location

@description('The public https address of the service (a custom domain); empty uses the function app\'s own azurewebsites.net address.')
param publicBaseUrl string = ''

@description('Sender of every email, e.g. "SEND and inclusion training <training@example.gov.uk>".')
param emailFrom string

@description('Six-field CRON schedule of the timer sweep and outbox pass.')
param tickSchedule string = '0 */1 * * * *'

param postgresAdminLogin string = 'sendworkflows'

@secure()
param postgresAdminPassword string

@secure()
@description('SendGrid API key with Mail Send permission.')
param sendGridApiKey string = ''

@secure()
@description('HMAC key for certificate links, at least 32 characters.')
param signingKey string = ''

@description('Write the secrets below into Key Vault. Generate them once, keep them in your secret store, and pass them on every deployment; with false the vault keeps what it has.')
param writeSecrets bool = true

@secure()
@description('The first admin API key, at least 24 characters.')
param bootstrapAdminKey string = ''

@description('Verification key of SendGrid\'s Signed Event Webhook (public, base64); empty leaves the webhook off.')
param sendGridWebhookPublicKey string = ''

param maximumInstanceCount int = 40
param instanceMemoryMB int = 2048

var suffix = uniqueString(resourceGroup().id)
var appName = '${namePrefix}-func-${suffix}'
var storageName = take(toLower('${namePrefix}st${suffix}'), 24)
var deploymentContainer = 'deployments'
var vaultName = take('${namePrefix}-kv-${suffix}', 24)
var postgresName = '${namePrefix}-pg-${suffix}'
var databaseName = 'sendworkflows'
var baseUrl = empty(publicBaseUrl) ? 'https://${appName}.azurewebsites.net' : publicBaseUrl

// Built-in role definition ids.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-logs-${suffix}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-ai-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: false
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packages 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainer
  properties: { publicAccess: 'None' }
}

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: postgresName
  location: location
  sku: { name: 'Standard_B2s', tier: 'Burstable' }
  properties: {
    version: '16'
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    storage: { storageSizeGB: 64, autoGrow: 'Enabled' }
    backup: { backupRetentionDays: 14, geoRedundantBackup: 'Disabled' }
    highAvailability: { mode: 'Disabled' }
    network: { publicNetworkAccess: 'Enabled' }
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: databaseName
  properties: { charset: 'UTF8', collation: 'en_US.utf8' }
}

// Lets Azure services (the function app's outbound addresses) reach the server; tighten with a
// virtual network when one is added.
resource allowAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  parent: postgres
  name: 'AllowAzureServices'
  properties: { startIpAddress: '0.0.0.0', endIpAddress: '0.0.0.0' }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 30
    enablePurgeProtection: true
  }
}

resource storeSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (writeSecrets) {
  parent: vault
  name: 'storage-connection-string'
  properties: {
    // At most 10 connections per instance: maximumInstanceCount × 10 stays under the server's
    // max_connections (B2s allows about 400), however far the app scales out.
    value: 'Host=${postgres.properties.fullyQualifiedDomainName};Database=${databaseName};Username=${postgresAdminLogin};Password=${postgresAdminPassword};SSL Mode=Require;Maximum Pool Size=10'
  }
}

resource sendGridSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (writeSecrets) {
  parent: vault
  name: 'sendgrid-api-key'
  properties: { value: sendGridApiKey }
}

resource signingSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (writeSecrets) {
  parent: vault
  name: 'certificate-signing-key'
  properties: { value: signingKey }
}

resource adminSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (writeSecrets) {
  parent: vault
  name: 'bootstrap-admin-key'
  properties: { value: bootstrapAdminKey }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${namePrefix}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: { name: 'custom', version: '1.0' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        // The Functions host
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'TICK_SCHEDULE', value: tickSchedule }
        // The service (ProductionSafety.RequiredSettings: Production refuses to start without them)
        { name: 'ASPNETCORE_ENVIRONMENT', value: 'Production' }
        { name: 'Storage__Provider', value: 'postgres' }
        { name: 'Storage__ConnectionString', value: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/storage-connection-string)' }
        { name: 'Email__Transport', value: 'sendgrid' }
        { name: 'Email__From', value: emailFrom }
        { name: 'SendGrid__ApiKey', value: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/sendgrid-api-key)' }
        { name: 'SendGrid__WebhookPublicKey', value: sendGridWebhookPublicKey }
        { name: 'Certificates__SigningKey', value: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/certificate-signing-key)' }
        { name: 'Auth__BootstrapAdminKey', value: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/bootstrap-admin-key)' }
        { name: 'PublicBaseUrl', value: baseUrl }
        // The timer function drives sweeps; an instance may be frozen between requests, so no loop of its own.
        { name: 'Workflow__RunInBackground', value: 'false' }
        // Well below host.json's functionTimeout (5 minutes); the pump stops at the budget, whatever is left.
        { name: 'Workflow__TickBudget', value: '00:01:30' }
      ]
    }
  }
}

resource appReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, app.id, keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appOwnsBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, app.id, storageBlobDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appUsesQueues 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, app.id, storageQueueDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appUsesTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, app.id, storageTableDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output appName string = app.name
output appUrl string = baseUrl
output defaultHostName string = 'https://${app.properties.defaultHostName}'
output keyVaultName string = vault.name
output postgresHost string = postgres.properties.fullyQualifiedDomainName
output storageAccountName string = storage.name
