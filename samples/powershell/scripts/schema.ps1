# Schema Script of the "HR Flat File" MA: the one object type the HR extract holds.
#
# Keep it in step with `schema:` in flatfile-hr.yaml; the yaml is what reviewers read and
# what maforge writes into the MA export, this script is what the connector asks when an
# admin refreshes the schema. Runs at design time, so it needs no common module.

param(
    [System.Collections.ObjectModel.KeyedCollection[string, Microsoft.MetadirectoryServices.ConfigParameter]] $ConfigParameters,
    [Alias('PSCredential')] [System.Management.Automation.PSCredential] $Credential
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

# Shorthands for the ECMA2 types used below.
$attribute = [Microsoft.MetadirectoryServices.SchemaAttribute]
$stringType = [Microsoft.MetadirectoryServices.AttributeType]::String
$importOnly = [Microsoft.MetadirectoryServices.AttributeOperation]::ImportOnly
$importExport = [Microsoft.MetadirectoryServices.AttributeOperation]::ImportExport

$employee = [Microsoft.MetadirectoryServices.SchemaType]::Create('employee', $true)

# HR owns these: MIM reads them and never writes them back.
[void]$employee.Attributes.Add($attribute::CreateAnchorAttribute('EmployeeId', $stringType, $importOnly))
foreach ($name in @('FirstName', 'LastName', 'Department', 'JobTitle', 'ManagerId', 'Status')) {
    [void]$employee.Attributes.Add($attribute::CreateSingleValuedAttribute($name, $stringType, $importOnly))
}
[void]$employee.Attributes.Add($attribute::CreateMultiValuedAttribute('Skills', $stringType, $importOnly))

# Written back to HR through the write-back file, and read again from the next extract
# so MIM sees its exports confirmed.
foreach ($name in @('Email', 'WorkPhone')) {
    [void]$employee.Attributes.Add($attribute::CreateSingleValuedAttribute($name, $stringType, $importExport))
}

$schema = [Microsoft.MetadirectoryServices.Schema]::Create()
[void]$schema.Types.Add($employee)

# The only object on the pipeline: the connector expects exactly one Schema.
$schema
