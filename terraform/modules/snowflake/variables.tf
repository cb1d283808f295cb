variable "names" {
  description = "Object names from the naming module: database, warehouse, loader_role, transformer_role, analyst_role, runtime_role, storage_integration, schemas."
  type = object({
    database            = string
    warehouse           = string
    loader_role         = string
    transformer_role    = string
    analyst_role        = string
    runtime_role        = string
    storage_integration = string
    schemas             = list(string)
  })
}

variable "lake_bucket" {
  description = "The lake bucket the storage integration may read (gcs://<bucket>/)."
  type        = string
}

variable "warehouse_size" {
  description = "Size of Caravan's warehouse."
  type        = string
  default     = "XSMALL"

  validation {
    condition     = contains(["XSMALL", "SMALL", "MEDIUM", "LARGE"], var.warehouse_size)
    error_message = "warehouse_size must be XSMALL, SMALL, MEDIUM or LARGE."
  }
}

variable "auto_suspend_seconds" {
  description = "Seconds of inactivity after which the warehouse suspends (and stops costing)."
  type        = number
  default     = 60

  validation {
    condition     = var.auto_suspend_seconds >= 60 && var.auto_suspend_seconds <= 3600
    error_message = "auto_suspend_seconds must be from 60 to 3600."
  }
}

variable "role_users" {
  description = "Users to grant the roles to: runtime (Airflow's connection), transformer (dbt outside Airflow), analyst."
  type = object({
    runtime     = optional(list(string), [])
    transformer = optional(list(string), [])
    analyst     = optional(list(string), [])
  })
  default = {}
}
