# Begin Import Script of the "HR Flat File" MA: checks the extract before any page is read.
#
# Fails the run step early (ServerDownException, as Microsoft's own connectors do) when the
# file is missing or its header lacks a column the schema needs, instead of importing a
# half-empty connector space.

param(
    [System.Collections.ObjectModel.KeyedCollection[string, Microsoft.MetadirectoryServices.ConfigParameter]] $ConfigParameters,
    [Alias('Types')] [Microsoft.MetadirectoryServices.Schema] $Schema,
    [Microsoft.MetadirectoryServices.OpenImportConnectionRunStep] $OpenImportConnectionRunStep,
    [Alias('PSCredential')] [System.Management.Automation.PSCredential] $Credential
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

$moduleFile = $ConfigParameters['Common Module Script Name (with extension)'].Value
$modulePath = Join-Path -Path ([Microsoft.MetadirectoryServices.MAUtils]::MAFolder) -ChildPath $moduleFile
Import-Module -Name $modulePath -Force -ErrorAction Stop

# The extract is always complete: there is nothing a delta import could ask for.
if ([string]$OpenImportConnectionRunStep.ImportType -ne 'Full') {
    $message = 'The HR extract supports full imports only.'
    throw (New-Object -TypeName Microsoft.MetadirectoryServices.ExtensibleExtensionException -ArgumentList $message)
}

$filePath = $ConfigParameters["HRFilePath_Global"].Value.Trim()
$delimiter = $ConfigParameters["HRFileDelimiter_Global"].Value
if (-not (Test-Path -LiteralPath $filePath -PathType Leaf)) {
    $message = "HR extract '$filePath' not found."
    throw (New-Object -TypeName Microsoft.MetadirectoryServices.ServerDownException -ArgumentList $message)
}

# Every attribute the connector imports must have a column.
$needed = @($Schema.Types['employee'].Attributes |
    Where-Object { [string]$_.AllowedAttributeOperation -ne 'ExportOnly' } |
    ForEach-Object { $_.Name })
$missing = @(Get-HRMissingColumn -Path $filePath -Delimiter $delimiter -Column $needed)
if ($missing.Count -gt 0) {
    $message = "HR extract '$filePath' lacks the column(s) " + ($missing -join ', ') + '.'
    throw (New-Object -TypeName Microsoft.MetadirectoryServices.ServerDownException -ArgumentList $message)
}

# A fresh read for this run step: forget rows cached by an earlier one.
Remove-Variable -Name HRImportRows -Scope Global -ErrorAction SilentlyContinue

# CustomData is the index of the next row to import; the Import script starts at 0.
New-Object -TypeName Microsoft.MetadirectoryServices.OpenImportConnectionResults -ArgumentList '0'
