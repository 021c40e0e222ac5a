# End Import Script of the "HR Flat File" MA: releases the rows cached during the import.
# There is no watermark to keep: every import is a full import.

param(
    [System.Collections.ObjectModel.KeyedCollection[string, Microsoft.MetadirectoryServices.ConfigParameter]] $ConfigParameters,
    [Alias('Types')] [Microsoft.MetadirectoryServices.Schema] $Schema,
    [Microsoft.MetadirectoryServices.OpenImportConnectionRunStep] $OpenImportConnectionRunStep,
    [Microsoft.MetadirectoryServices.CloseImportConnectionRunStep] $CloseImportConnectionRunStep,
    [Alias('PSCredential')] [System.Management.Automation.PSCredential] $Credential
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

Remove-Variable -Name HRImportRows -Scope Global -ErrorAction SilentlyContinue

New-Object -TypeName Microsoft.MetadirectoryServices.CloseImportConnectionResults
