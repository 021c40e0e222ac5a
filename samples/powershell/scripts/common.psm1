# Common module of the "HR Flat File" MA (samples/powershell/flatfile-hr.yaml).
#
# The connector writes this text to disk under the MA's "Common Module Script Name"
# before each script runs; the run-time scripts (import, export) load it from the MA's
# MAData folder. Plain Windows PowerShell 5.1. Functions here return values through the
# pipeline on purpose; the scripts calling them decide what reaches the connector.

Set-StrictMode -Version 2.0

# Attributes the HR system accepts back through the write-back file. Everything else in
# the schema is owned by HR and only imported.
$script:WritebackAttributes = @('Email', 'WorkPhone')

function Read-HREmployeeFile {
    # All rows of the HR extract, as objects with one property per column.
    param(
        [Parameter(Mandatory = $true)] [string] $Path,
        [Parameter(Mandatory = $true)] [string] $Delimiter
    )
    Import-Csv -LiteralPath $Path -Delimiter $Delimiter -Encoding UTF8
}

function Get-HRMissingColumn {
    # Names in $Column that the file's header row does not have (none: the file fits).
    param(
        [Parameter(Mandatory = $true)] [string] $Path,
        [Parameter(Mandatory = $true)] [string] $Delimiter,
        [Parameter(Mandatory = $true)] [string[]] $Column
    )
    $header = Get-Content -LiteralPath $Path -TotalCount 1 -Encoding UTF8
    if ($null -eq $header) {
        return $Column
    }
    $present = @($header.Split($Delimiter) | ForEach-Object { $_.Trim().Trim('"') })
    foreach ($name in $Column) {
        if ($present -notcontains $name) {
            $name
        }
    }
}

function ConvertTo-HRCSEntryChange {
    # One HR row as an import Add: the anchor, then every schema attribute the row has a
    # value for. Multi-valued cells are split on $Separator.
    param(
        [Parameter(Mandatory = $true)] $Row,
        [Parameter(Mandatory = $true)] [Microsoft.MetadirectoryServices.SchemaType] $SchemaType,
        [Parameter(Mandatory = $true)] [string] $Separator
    )
    $anchorName = 'EmployeeId'
    $anchorValue = [string]$Row.$anchorName
    $entry = [Microsoft.MetadirectoryServices.CSEntryChange]::Create()
    $entry.ObjectType = $SchemaType.Name
    $entry.ObjectModificationType = 'Add'
    # Generic DN style: the DN only has to be unique, so it is the anchor value.
    $entry.DN = $anchorValue
    [void]$entry.AnchorAttributes.Add([Microsoft.MetadirectoryServices.AnchorAttribute]::Create($anchorName, $anchorValue))

    foreach ($attribute in $SchemaType.Attributes) {
        if ([string]$attribute.AllowedAttributeOperation -eq 'ExportOnly') {
            continue
        }
        $cell = $Row.PSObject.Properties[$attribute.Name]
        if ($null -eq $cell -or [string]::IsNullOrWhiteSpace([string]$cell.Value)) {
            continue
        }
        $text = ([string]$cell.Value).Trim()
        if ($attribute.IsMultiValued) {
            $values = New-Object -TypeName 'System.Collections.Generic.List[object]'
            foreach ($part in $text.Split($Separator)) {
                if ($part.Trim().Length -gt 0) {
                    [void]$values.Add($part.Trim())
                }
            }
            $change = [Microsoft.MetadirectoryServices.AttributeChange]::CreateAttributeAdd($attribute.Name, $values)
        }
        else {
            $change = [Microsoft.MetadirectoryServices.AttributeChange]::CreateAttributeAdd($attribute.Name, $text)
        }
        [void]$entry.AttributeChanges.Add($change)
    }
    $entry
}

function Get-HRExportValue {
    # The value an export sets, as text: the added values joined with $Separator, or an
    # empty string when the change clears the attribute.
    param(
        [Parameter(Mandatory = $true)] [Microsoft.MetadirectoryServices.AttributeChange] $Change,
        [Parameter(Mandatory = $true)] [string] $Separator
    )
    if ([string]$Change.ModificationType -eq 'Delete') {
        return ''
    }
    $added = @($Change.ValueChanges | Where-Object { [string]$_.ModificationType -eq 'Add' } | ForEach-Object { [string]$_.Value })
    return ($added -join $Separator)
}

function Test-HRWritebackAttribute {
    # True when HR accepts changes to this attribute through the write-back file.
    param([Parameter(Mandatory = $true)] [string] $Name)
    return ($script:WritebackAttributes -contains $Name)
}

function ConvertTo-HRCsvField {
    # One CSV field, quoted, with embedded quotes doubled.
    param([AllowEmptyString()] [string] $Value)
    return '"' + $Value.Replace('"', '""') + '"'
}

function Add-HRWritebackRow {
    # Appends one change (EmployeeId, Attribute, Value, ChangedUtc) to the write-back file,
    # creating it with a header row first. UTF-8 without a byte order mark.
    param(
        [Parameter(Mandatory = $true)] [string] $Path,
        [Parameter(Mandatory = $true)] [string] $EmployeeId,
        [Parameter(Mandatory = $true)] [string] $Attribute,
        [AllowEmptyString()] [string] $Value
    )
    $encoding = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
    if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) {
        [System.IO.File]::WriteAllText($Path, "EmployeeId,Attribute,Value,ChangedUtc`r`n", $encoding)
    }
    $invariant = [System.Globalization.CultureInfo]::InvariantCulture
    $changedUtc = [DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", $invariant)
    $fields = @($EmployeeId, $Attribute, $Value, $changedUtc) | ForEach-Object { ConvertTo-HRCsvField -Value $_ }
    [System.IO.File]::AppendAllText($Path, (($fields -join ',') + "`r`n"), $encoding)
}

$exportedFunctions = @(
    'Read-HREmployeeFile',
    'Get-HRMissingColumn',
    'ConvertTo-HRCSEntryChange',
    'Get-HRExportValue',
    'Test-HRWritebackAttribute',
    'Add-HRWritebackRow'
)
Export-ModuleMember -Function $exportedFunctions
