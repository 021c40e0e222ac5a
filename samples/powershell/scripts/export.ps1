# Export Script of the "HR Flat File" MA: HR takes changes to Email and WorkPhone as rows
# of a write-back file (EmployeeId, Attribute, Value, ChangedUtc) that it loads nightly.
#
# Each entry gets its own result: one bad entry is reported and retried on the next export
# (ExportErrorCustomContinueRun) without failing the others.

param(
    [System.Collections.ObjectModel.KeyedCollection[string, Microsoft.MetadirectoryServices.ConfigParameter]] $ConfigParameters,
    [Alias('Types')] [Microsoft.MetadirectoryServices.Schema] $Schema,
    [Microsoft.MetadirectoryServices.OpenExportConnectionRunStep] $OpenExportConnectionRunStep,
    [System.Collections.Generic.IList[Microsoft.MetadirectoryServices.CSEntryChange]] $CSEntries,
    [Alias('PSCredential')] [System.Management.Automation.PSCredential] $Credential
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

$moduleFile = $ConfigParameters['Common Module Script Name (with extension)'].Value
$modulePath = Join-Path -Path ([Microsoft.MetadirectoryServices.MAUtils]::MAFolder) -ChildPath $moduleFile
Import-Module -Name $modulePath -Force -ErrorAction Stop

$writebackPath = $ConfigParameters["HRWritebackPath_Global"].Value.Trim()
$separator = $ConfigParameters["HRMultiValueSeparator_Global"].Value

$results = New-Object -TypeName 'System.Collections.Generic.List[Microsoft.MetadirectoryServices.CSEntryChangeResult]'

foreach ($entry in $CSEntries) {
    try {
        # HR creates and removes employees itself; MIM only updates them.
        $operation = [string]$entry.ObjectModificationType
        if ($operation -ne 'Update' -and $operation -ne 'Replace') {
            throw "HR does not accept '$operation' from MIM: employees are created and removed in HR."
        }
        $employeeId = [string]$entry.AnchorAttributes['EmployeeId'].Value
        foreach ($change in $entry.AttributeChanges) {
            if (-not (Test-HRWritebackAttribute -Name $change.Name)) {
                throw "HR does not accept changes to '$($change.Name)'."
            }
        }
        foreach ($change in $entry.AttributeChanges) {
            $value = Get-HRExportValue -Change $change -Separator $separator
            Add-HRWritebackRow -Path $writebackPath -EmployeeId $employeeId -Attribute $change.Name -Value $value
        }
        $ok = [Microsoft.MetadirectoryServices.CSEntryChangeResult]::Create(
            $entry.Identifier,
            $null,
            [Microsoft.MetadirectoryServices.MAExportError]::Success)
        [void]$results.Add($ok)
    }
    catch {
        $failed = [Microsoft.MetadirectoryServices.CSEntryChangeResult]::Create(
            $entry.Identifier,
            $null,
            [Microsoft.MetadirectoryServices.MAExportError]::ExportErrorCustomContinueRun,
            'hr-writeback-failed',
            $_.Exception.Message)
        [void]$results.Add($failed)
    }
}

# The only object on the pipeline. The list goes in as one constructor argument; without
# the wrapping array PowerShell would pass its items as separate arguments.
[Activator]::CreateInstance([Microsoft.MetadirectoryServices.PutExportEntriesResults], [object[]]@(, $results))
