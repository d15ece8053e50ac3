"""`liverview scan`: harvest a whole archive. Find its CT studies (archive), name each by its identity
(study_identity), detect lesions in each as a Ray task (study_task, on resources chosen by cluster), and store
each finished study from the driver alone (batch), with progress on the terminal (progress)."""
