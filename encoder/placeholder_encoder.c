/* placeholder so the library is not empty */
int lb_encoder_placeholder_;
