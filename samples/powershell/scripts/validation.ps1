# Validation Script of the "HR Flat File" MA: checks the Global Parameters page when an
# admin saves it, so a wrong path fails now rather than at 2 a.m. in the first import.
# Runs at design time, so it needs no common module.

param(
    [System.Collections.ObjectModel.KeyedCollection[string, Microsoft.MetadirectoryServices.ConfigParameter]] $ConfigParameters,
    [Microsoft.MetadirectoryServices.ConfigParameterPage] $ConfigParameterPage,
    [Alias('PSCredential')] [System.Management.Automation.PSCredential] $Credential
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

function New-ValidationResult {
    param(
        [Parameter(Mandatory = $true)] [string] $Code,
        [AllowEmptyString()] [string] $Message = '',
        [AllowEmptyString()] [string] $Parameter = ''
    )
    $resultCode = [Microsoft.MetadirectoryServices.ParameterValidationResultCode]$Code
    $arguments = @($resultCode, $Message, $Parameter)
    New-Object -TypeName Microsoft.MetadirectoryServices.ParameterValidationResult -ArgumentList $arguments
}

# Other pages hold nothing this connector depends on.
if ([string]$ConfigParameterPage -ne 'Global') {
    return (New-ValidationResult -Code 'Success')
}

$filePath = $ConfigParameters["HRFilePath_Global"].Value
if ([string]::IsNullOrWhiteSpace($filePath)) {
    $message = 'HRFilePath is empty: enter the path of the HR extract.'
    return (New-ValidationResult -Code 'Failure' -Message $message -Parameter 'HRFilePath_Global')
}
if (-not (Test-Path -LiteralPath $filePath.Trim() -PathType Leaf)) {
    $message = "The HR extract '$($filePath.Trim())' does not exist or the sync service account cannot read it."
    return (New-ValidationResult -Code 'Failure' -Message $message -Parameter 'HRFilePath_Global')
}

$writebackPath = $ConfigParameters["HRWritebackPath_Global"].Value
if ([string]::IsNullOrWhiteSpace($writebackPath)) {
    $message = 'HRWritebackPath is empty: enter where exports are written for HR.'
    return (New-ValidationResult -Code 'Failure' -Message $message -Parameter 'HRWritebackPath_Global')
}
$writebackFolder = Split-Path -Path $writebackPath.Trim() -Parent
if (-not (Test-Path -LiteralPath $writebackFolder -PathType Container)) {
    $message = "The write-back folder '$writebackFolder' does not exist or the sync service account cannot see it."
    return (New-ValidationResult -Code 'Failure' -Message $message -Parameter 'HRWritebackPath_Global')
}

# Both are single characters: the scripts split on them.
$delimiter = $ConfigParameters["HRFileDelimiter_Global"].Value
if ($null -eq $delimiter -or $delimiter.Length -ne 1) {
    $message = 'HRFileDelimiter must be exactly one character.'
    return (New-ValidationResult -Code 'Failure' -Message $message -Parameter 'HRFileDelimiter_Global')
}
$separator = $ConfigParameters["HRMultiValueSeparator_Global"].Value
if ($null -eq $separator -or $separator.Length -ne 1 -or $separator -eq $delimiter) {
    $message = 'HRMultiValueSeparator must be exactly one character, different from HRFileDelimiter.'
    return (New-ValidationResult -Code 'Failure' -Message $message -Parameter 'HRMultiValueSeparator_Global')
}

New-ValidationResult -Code 'Success'
