# Import Script of the "HR Flat File" MA: returns the extract one page at a time.
#
# Paging state lives in CustomData (the index of the next row), so the script also works
# when each call runs in a fresh runspace (Impersonate Connector Account). The rows are
# cached in a global variable only to avoid re-reading the file for every page.

param(
    [System.Collections.ObjectModel.KeyedCollection[string, Microsoft.MetadirectoryServices.ConfigParameter]] $ConfigParameters,
    [Alias('Types')] [Microsoft.MetadirectoryServices.Schema] $Schema,
    [Microsoft.MetadirectoryServices.OpenImportConnectionRunStep] $OpenImportConnectionRunStep,
    [Alias('ImportRunStep')] [Microsoft.MetadirectoryServices.ImportRunStep] $GetImportEntriesRunStep,
    [Alias('PSCredential')] [System.Management.Automation.PSCredential] $Credential
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

$moduleFile = $ConfigParameters['Common Module Script Name (with extension)'].Value
$modulePath = Join-Path -Path ([Microsoft.MetadirectoryServices.MAUtils]::MAFolder) -ChildPath $moduleFile
Import-Module -Name $modulePath -Force -ErrorAction Stop

$filePath = $ConfigParameters["HRFilePath_Global"].Value.Trim()
$delimiter = $ConfigParameters["HRFileDelimiter_Global"].Value
$separator = $ConfigParameters["HRMultiValueSeparator_Global"].Value

$start = 0
if (-not [string]::IsNullOrEmpty($GetImportEntriesRunStep.CustomData)) {
    $start = [int]$GetImportEntriesRunStep.CustomData
}

if (-not (Test-Path -Path 'Variable:Global:HRImportRows')) {
    $Global:HRImportRows = @(Read-HREmployeeFile -Path $filePath -Delimiter $delimiter)
}
$rows = $Global:HRImportRows

$pageSize = [Math]::Max(1, $OpenImportConnectionRunStep.PageSize)
$end = [Math]::Min($start + $pageSize, $rows.Count)
$employeeType = $Schema.Types['employee']
$entries = New-Object -TypeName 'System.Collections.Generic.List[Microsoft.MetadirectoryServices.CSEntryChange]'

for ($index = $start; $index -lt $end; $index++) {
    $row = $rows[$index]
    $employeeId = [string]$row.EmployeeId
    if ([string]::IsNullOrWhiteSpace($employeeId)) {
        # A row without a key cannot become an object; report it and go on with the rest.
        Write-Warning -Message "HR extract row $($index + 2) has no EmployeeId and was skipped."
        continue
    }
    [void]$entries.Add((ConvertTo-HRCSEntryChange -Row $row -SchemaType $employeeType -Separator $separator))
}

$result = New-Object -TypeName Microsoft.MetadirectoryServices.GetImportEntriesResults
$result.CSEntries = $entries
$result.MoreToImport = ($end -lt $rows.Count)
$result.CustomData = [string]$end

# The only object on the pipeline: one GetImportEntriesResults per call.
$result
